import { config } from '../shared/config.ts';
import { apiHandler } from '../shared/http/api-handler.ts';
import { SCOPES } from '../shared/http/routes.ts';
import { paymentMethodContracts } from '../shared/schemas/payment-methods.ts';
import { listPaymentMethods } from '../shared/use-cases/payment-methods/payment-methods.ts';

export const handler = apiHandler(
  {
    name: 'payment-methods-list',
    contract: paymentMethodContracts['payment-methods-list'],
    scopes: [SCOPES.customersRead],
  },
  ({ params, query, caller }) => listPaymentMethods(config().tableName, params.id, query, caller),
);
