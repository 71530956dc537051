import { config } from '../shared/config.ts';
import { apiHandler } from '../shared/http/api-handler.ts';
import { SCOPES } from '../shared/http/routes.ts';
import { subscriptionContracts } from '../shared/schemas/subscriptions.ts';
import { updateSubscription } from '../shared/use-cases/subscriptions.ts';

export const handler = apiHandler(
  {
    name: 'subscriptions-update',
    contract: subscriptionContracts['subscriptions-update'],
    scopes: [SCOPES.subscriptionsUpdate],
  },
  ({ params, body, ifMatchVersion, caller }) =>
    updateSubscription(config().tableName, params.id, body, ifMatchVersion, caller),
);
