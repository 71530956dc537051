import { config } from '../shared/config.ts';
import { apiHandler } from '../shared/http/api-handler.ts';
import { SCOPES } from '../shared/http/routes.ts';
import { paymentMethodContracts } from '../shared/schemas/payment-methods.ts';
import { attachPaymentMethod } from '../shared/use-cases/payment-methods/attach-payment-method.ts';

export const handler = apiHandler(
  {
    name: 'payment-methods-attach',
    contract: paymentMethodContracts['payment-methods-attach'],
    scopes: [SCOPES.paymentMethodsWrite],
  },
  ({ params, body, caller, idempotency }) =>
    attachPaymentMethod(config().tableName, params.id, body, caller, idempotency),
);
