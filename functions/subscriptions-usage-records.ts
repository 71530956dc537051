import { config } from '../shared/config.ts';
import { apiHandler } from '../shared/http/api-handler.ts';
import { SCOPES } from '../shared/http/routes.ts';
import { usageContracts } from '../shared/schemas/usage.ts';
import { listSubscriptionUsageRecords } from '../shared/use-cases/usage-records.ts';

export const handler = apiHandler(
  {
    name: 'subscriptions-usage-records',
    contract: usageContracts['subscriptions-usage-records'],
    scopes: [SCOPES.usageRead, SCOPES.subscriptionsRead],
  },
  ({ params, query, caller }) => listSubscriptionUsageRecords(config().tableName, params.id, query, caller),
);
