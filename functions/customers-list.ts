import { config } from '../shared/config.ts';
import { apiHandler } from '../shared/http/api-handler.ts';
import { SCOPES } from '../shared/http/routes.ts';
import { customerContracts } from '../shared/schemas/customers.ts';
import { listCustomers } from '../shared/use-cases/customers.ts';

export const handler = apiHandler(
  { name: 'customers-list', contract: customerContracts['customers-list'], scopes: [SCOPES.customersRead] },
  ({ query, principal }) => listCustomers(config().tableName, query, principal),
);
