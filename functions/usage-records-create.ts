import { DomainError } from '../shared/domain/errors.ts';
import { apiHandler } from '../shared/http/api-handler.ts';
import { SCOPES } from '../shared/http/routes.ts';
import { usageContracts } from '../shared/schemas/usage.ts';

/**
 * Route and authorizers exist (JWT and IAM) so the infrastructure is complete; ingestion itself is
 * issue #4 and until then the route answers 501 with a problem document rather than pretending.
 */
export const handler = apiHandler(
  {
    name: 'usage-records-create',
    contract: usageContracts['usage-records-create'],
    scopes: [SCOPES.usageCreate],
  },
  async () => {
    throw new DomainError('not-implemented', 'Usage ingestion is not implemented yet');
  },
);
