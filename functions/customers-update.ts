import { config } from '../shared/config.ts';
import { apiHandler } from '../shared/http/api-handler.ts';
import { SCOPES } from '../shared/http/routes.ts';
import { customerContracts } from '../shared/schemas/customers.ts';
import { updateCustomer } from '../shared/use-cases/customers.ts';

export const handler = apiHandler(
  {
    name: 'customers-update',
    contract: customerContracts['customers-update'],
    scopes: [SCOPES.customersCreate],
  },
  ({ params, body, ifMatchVersion, caller }) =>
    updateCustomer(config().tableName, params.id, body, ifMatchVersion, caller),
);
