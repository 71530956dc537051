import { config } from '../shared/config.ts';
import { apiHandler } from '../shared/http/api-handler.ts';
import { SCOPES } from '../shared/http/routes.ts';
import { catalogContracts } from '../shared/schemas/catalog.ts';
import { listPrices } from '../shared/use-cases/catalog.ts';

export const handler = apiHandler(
  { name: 'prices-list', contract: catalogContracts['prices-list'], scopes: [SCOPES.catalogRead] },
  ({ query }) => listPrices(config().tableName, query),
);
