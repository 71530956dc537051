import { config } from '../shared/config.ts';
import { apiHandler } from '../shared/http/api-handler.ts';
import { SCOPES } from '../shared/http/routes.ts';
import { subscriptionContracts } from '../shared/schemas/subscriptions.ts';
import { getSubscriptionBudget } from '../shared/use-cases/subscription-budget.ts';

export const handler = apiHandler(
  {
    name: 'subscriptions-budget',
    contract: subscriptionContracts['subscriptions-budget'],
    scopes: [SCOPES.subscriptionsRead],
  },
  ({ params, principal }) => getSubscriptionBudget(config().tableName, params.id, principal),
);
