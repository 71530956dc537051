import { config } from '../shared/config.ts';
import { DomainError } from '../shared/domain/errors.ts';
import { ApiResult, apiHandler } from '../shared/http/api-handler.ts';
import { SCOPES } from '../shared/http/routes.ts';
import { usageContracts } from '../shared/schemas/usage.ts';
import { ingestUsage } from '../shared/use-cases/usage.ts';

/** A batch of 1000 records is about 200 KB; leave room for long keys. */
const MAX_USAGE_BODY_BYTES = 1024 * 1024;

/**
 * One record answers like any create (201, or a problem naming the field; 200 for a duplicate);
 * a batch answers 200 with a result per record, since each record succeeds or fails on its own.
 */
export const handler = apiHandler(
  {
    name: 'usage-records-create',
    contract: usageContracts['usage-records-create'],
    scopes: [SCOPES.usageCreate],
    maxBodyBytes: MAX_USAGE_BODY_BYTES,
  },
  async ({ body, caller }) => {
    const batch = 'records' in body;
    const records = batch ? (body.records as unknown[]) : [body];
    const outcome = await ingestUsage(config().tableName, { records, batch }, caller);
    if (batch) return new ApiResult(200, outcome);
    const [result] = outcome.results;
    if (result?.status === 'rejected' && result.error) {
      const kind =
        ({ 404: 'not-found', 409: 'conflict', 422: 'unprocessable' } as const)[result.error.status] ??
        'validation';
      throw new DomainError(kind, result.error.detail, result.error.errors);
    }
    return new ApiResult(result?.status === 'accepted' ? 201 : 200, outcome);
  },
);
