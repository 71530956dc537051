import { config } from '../shared/config.ts';
import { apiHandler } from '../shared/http/api-handler.ts';
import { SCOPES } from '../shared/http/routes.ts';
import { catalogContracts } from '../shared/schemas/catalog.ts';
import { listProducts } from '../shared/use-cases/catalog.ts';

export const handler = apiHandler(
  { name: 'products-list', contract: catalogContracts['products-list'], scopes: [SCOPES.catalogRead] },
  ({ query }) => listProducts(config().tableName, query),
);
