import { config } from '../shared/config.ts';
import { apiHandler } from '../shared/http/api-handler.ts';
import { SCOPES } from '../shared/http/routes.ts';
import { subscriptionContracts } from '../shared/schemas/subscriptions.ts';
import { getSubscription } from '../shared/use-cases/subscriptions.ts';

export const handler = apiHandler(
  {
    name: 'subscriptions-get',
    contract: subscriptionContracts['subscriptions-get'],
    scopes: [SCOPES.subscriptionsRead],
  },
  ({ params, principal }) => getSubscription(config().tableName, params.id, principal),
);
