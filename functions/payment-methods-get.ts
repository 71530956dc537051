import { config } from '../shared/config.ts';
import { apiHandler } from '../shared/http/api-handler.ts';
import { SCOPES } from '../shared/http/routes.ts';
import { paymentMethodContracts } from '../shared/schemas/payment-methods.ts';
import { getPaymentMethod } from '../shared/use-cases/payment-methods/payment-methods.ts';

export const handler = apiHandler(
  {
    name: 'payment-methods-get',
    contract: paymentMethodContracts['payment-methods-get'],
    scopes: [SCOPES.customersRead],
  },
  ({ params, caller }) => getPaymentMethod(config().tableName, params.id, params.pm_id, caller),
);
