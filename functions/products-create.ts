import { config } from '../shared/config.ts';
import { apiHandler } from '../shared/http/api-handler.ts';
import { SCOPES } from '../shared/http/routes.ts';
import { catalogContracts } from '../shared/schemas/catalog.ts';
import { createProduct } from '../shared/use-cases/catalog.ts';

export const handler = apiHandler(
  { name: 'products-create', contract: catalogContracts['products-create'], scopes: [SCOPES.catalogWrite] },
  ({ body, caller, idempotency }) => createProduct(config().tableName, body, caller, idempotency),
);
