import { config } from '../shared/config.ts';
import { apiHandler } from '../shared/http/api-handler.ts';
import { SCOPES } from '../shared/http/routes.ts';
import { paymentMethodContracts } from '../shared/schemas/payment-methods.ts';
import { detachPaymentMethod } from '../shared/use-cases/payment-methods/detach-payment-method.ts';

export const handler = apiHandler(
  {
    name: 'payment-methods-detach',
    contract: paymentMethodContracts['payment-methods-detach'],
    scopes: [SCOPES.paymentMethodsWrite],
  },
  ({ params, caller }) => detachPaymentMethod(config().tableName, params.id, params.pm_id, caller),
);
