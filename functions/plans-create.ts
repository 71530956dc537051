import { config } from '../shared/config.ts';
import { apiHandler } from '../shared/http/api-handler.ts';
import { SCOPES } from '../shared/http/routes.ts';
import { catalogContracts } from '../shared/schemas/catalog.ts';
import { createPlan } from '../shared/use-cases/catalog.ts';

export const handler = apiHandler(
  { name: 'plans-create', contract: catalogContracts['plans-create'], scopes: [SCOPES.catalogWrite] },
  ({ body, caller, idempotency }) => createPlan(config().tableName, body, caller, idempotency),
);
