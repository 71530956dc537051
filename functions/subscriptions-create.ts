import { config } from '../shared/config.ts';
import { apiHandler } from '../shared/http/api-handler.ts';
import { SCOPES } from '../shared/http/routes.ts';
import { subscriptionContracts } from '../shared/schemas/subscriptions.ts';
import { createSubscription } from '../shared/use-cases/subscriptions.ts';

export const handler = apiHandler(
  {
    name: 'subscriptions-create',
    contract: subscriptionContracts['subscriptions-create'],
    scopes: [SCOPES.subscriptionsCreate],
  },
  ({ body, caller, idempotency }) => createSubscription(config().tableName, body, caller, idempotency),
);
