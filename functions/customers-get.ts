import { config } from '../shared/config.ts';
import { apiHandler } from '../shared/http/api-handler.ts';
import { SCOPES } from '../shared/http/routes.ts';
import { customerContracts } from '../shared/schemas/customers.ts';
import { getCustomer } from '../shared/use-cases/customers.ts';

export const handler = apiHandler(
  { name: 'customers-get', contract: customerContracts['customers-get'], scopes: [SCOPES.customersRead] },
  ({ params, principal }) => getCustomer(config().tableName, params.id, principal),
);
