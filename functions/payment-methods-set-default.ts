import { config } from '../shared/config.ts';
import { apiHandler } from '../shared/http/api-handler.ts';
import { SCOPES } from '../shared/http/routes.ts';
import { paymentMethodContracts } from '../shared/schemas/payment-methods.ts';
import { setDefaultPaymentMethod } from '../shared/use-cases/payment-methods/set-default-payment-method.ts';

export const handler = apiHandler(
  {
    name: 'payment-methods-set-default',
    contract: paymentMethodContracts['payment-methods-set-default'],
    scopes: [SCOPES.paymentMethodsWrite],
  },
  ({ params, caller, idempotency }) =>
    setDefaultPaymentMethod(config().tableName, params.id, params.pm_id, caller, idempotency),
);
