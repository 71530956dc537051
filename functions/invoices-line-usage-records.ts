import { config } from '../shared/config.ts';
import { apiHandler } from '../shared/http/api-handler.ts';
import { SCOPES } from '../shared/http/routes.ts';
import { usageContracts } from '../shared/schemas/usage.ts';
import { listLineUsageRecords } from '../shared/use-cases/usage-records.ts';

export const handler = apiHandler(
  {
    name: 'invoices-line-usage-records',
    contract: usageContracts['invoices-line-usage-records'],
    scopes: [SCOPES.invoicesRead],
  },
  ({ params, query, caller }) =>
    listLineUsageRecords(config().tableName, params.id, params.line_id, query, caller),
);
