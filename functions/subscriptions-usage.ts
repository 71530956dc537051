import { config } from '../shared/config.ts';
import { apiHandler } from '../shared/http/api-handler.ts';
import { SCOPES } from '../shared/http/routes.ts';
import { usageContracts } from '../shared/schemas/usage.ts';
import { getUsage } from '../shared/use-cases/usage.ts';

export const handler = apiHandler(
  {
    name: 'subscriptions-usage',
    contract: usageContracts['subscriptions-usage'],
    scopes: [SCOPES.usageRead, SCOPES.subscriptionsRead],
  },
  ({ params, query, caller }) => getUsage(config().tableName, params.id, query, caller),
);
