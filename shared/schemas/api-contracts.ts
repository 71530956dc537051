import { z } from 'zod';
import { auditContracts } from './audit.ts';
import { catalogContracts } from './catalog.ts';
import type { HandlerContract } from './contract.ts';
import { defineContract } from './contract.ts';
import { couponContracts } from './coupons.ts';
import { creditNoteContracts, refundContracts } from './credit-notes.ts';
import { customerContracts } from './customers.ts';
import { invoiceDocumentContracts } from './invoice-documents.ts';
import { invoiceItemContracts } from './invoice-items.ts';
import { invoiceContracts } from './invoices.ts';
import { paymentMethodContracts } from './payment-methods.ts';
import { subscriptionContracts } from './subscriptions.ts';
import { taxRateContracts } from './tax-rates.ts';
import { usageContracts } from './usage.ts';
import { webhookContracts } from './webhooks.ts';

const openapiContract = {
  openapi: defineContract({
    success: {
      status: 200,
      description: 'This document',
      schema: z.record(z.string(), z.unknown()).meta({ id: 'OpenApiDocument' }),
    },
    problems: [],
  }),
};

/** Every handler's contract by handler name (the `handler` of each route in shared/http/routes.ts). */
export const CONTRACTS: Record<string, HandlerContract> = {
  ...customerContracts,
  ...catalogContracts,
  ...taxRateContracts,
  ...couponContracts,
  ...creditNoteContracts,
  ...refundContracts,
  ...subscriptionContracts,
  ...invoiceContracts,
  ...invoiceItemContracts,
  ...invoiceDocumentContracts,
  ...paymentMethodContracts,
  ...usageContracts,
  ...webhookContracts,
  ...auditContracts,
  ...openapiContract,
};
