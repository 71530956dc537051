import { config } from '../shared/config.ts';
import { apiHandler } from '../shared/http/api-handler.ts';
import { SCOPES } from '../shared/http/routes.ts';
import { subscriptionContracts } from '../shared/schemas/subscriptions.ts';
import { listSubscriptions } from '../shared/use-cases/subscriptions.ts';

export const handler = apiHandler(
  {
    name: 'subscriptions-list',
    contract: subscriptionContracts['subscriptions-list'],
    scopes: [SCOPES.subscriptionsRead],
  },
  ({ query, principal }) => listSubscriptions(config().tableName, query, principal),
);
