import { z } from 'zod';
import { defineContract } from './contract.ts';

export const usageContracts = {
  'usage-records-create': defineContract({
    // The record schema arrives with usage ingestion (issue #4); until then any JSON body is taken.
    body: z.unknown(),
    success: { status: 202, description: 'Usage accepted' },
    problems: [400, 401, 403, 413, 501],
  }),
};
