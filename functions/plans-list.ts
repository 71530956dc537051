import { config } from '../shared/config.ts';
import { apiHandler } from '../shared/http/api-handler.ts';
import { SCOPES } from '../shared/http/routes.ts';
import { catalogContracts } from '../shared/schemas/catalog.ts';
import { listPlans } from '../shared/use-cases/catalog.ts';

export const handler = apiHandler(
  { name: 'plans-list', contract: catalogContracts['plans-list'], scopes: [SCOPES.catalogRead] },
  ({ query }) => listPlans(config().tableName, query),
);
