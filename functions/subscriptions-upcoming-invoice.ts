import { config } from '../shared/config.ts';
import { apiHandler } from '../shared/http/api-handler.ts';
import { SCOPES } from '../shared/http/routes.ts';
import { subscriptionContracts } from '../shared/schemas/subscriptions.ts';
import { upcomingInvoice } from '../shared/use-cases/invoicing/upcoming-invoice.ts';

export const handler = apiHandler(
  {
    name: 'subscriptions-upcoming-invoice',
    contract: subscriptionContracts['subscriptions-upcoming-invoice'],
    scopes: [SCOPES.invoicesRead],
  },
  ({ params, query, caller }) => upcomingInvoice(config().tableName, params.id, query, caller),
);
