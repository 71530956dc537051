import { config } from '../shared/config.ts';
import { apiHandler } from '../shared/http/api-handler.ts';
import { SCOPES } from '../shared/http/routes.ts';
import { catalogContracts } from '../shared/schemas/catalog.ts';
import { getProduct } from '../shared/use-cases/catalog.ts';

export const handler = apiHandler(
  { name: 'products-get', contract: catalogContracts['products-get'], scopes: [SCOPES.catalogRead] },
  ({ params }) => getProduct(config().tableName, params.id),
);
