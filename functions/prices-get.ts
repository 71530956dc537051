import { config } from '../shared/config.ts';
import { apiHandler } from '../shared/http/api-handler.ts';
import { SCOPES } from '../shared/http/routes.ts';
import { catalogContracts } from '../shared/schemas/catalog.ts';
import { getPrice } from '../shared/use-cases/catalog.ts';

export const handler = apiHandler(
  { name: 'prices-get', contract: catalogContracts['prices-get'], scopes: [SCOPES.catalogRead] },
  ({ params }) => getPrice(config().tableName, params.id),
);
