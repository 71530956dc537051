import { config } from '../shared/config.ts';
import { apiHandler } from '../shared/http/api-handler.ts';
import { SCOPES } from '../shared/http/routes.ts';
import { customerContracts } from '../shared/schemas/customers.ts';
import { createCustomer } from '../shared/use-cases/customers.ts';

export const handler = apiHandler(
  {
    name: 'customers-create',
    contract: customerContracts['customers-create'],
    scopes: [SCOPES.customersCreate],
  },
  ({ body, caller, idempotency }) => createCustomer(config().tableName, body, caller, idempotency),
);
