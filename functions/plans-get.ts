import { config } from '../shared/config.ts';
import { apiHandler } from '../shared/http/api-handler.ts';
import { SCOPES } from '../shared/http/routes.ts';
import { catalogContracts } from '../shared/schemas/catalog.ts';
import { getPlan } from '../shared/use-cases/catalog.ts';

export const handler = apiHandler(
  { name: 'plans-get', contract: catalogContracts['plans-get'], scopes: [SCOPES.catalogRead] },
  ({ params }) => getPlan(config().tableName, params.id),
);
