import { config } from '../shared/config.ts';
import { apiHandler } from '../shared/http/api-handler.ts';
import { SCOPES } from '../shared/http/routes.ts';
import { catalogContracts } from '../shared/schemas/catalog.ts';
import { createPrice } from '../shared/use-cases/catalog.ts';

export const handler = apiHandler(
  { name: 'prices-create', contract: catalogContracts['prices-create'], scopes: [SCOPES.catalogWrite] },
  ({ body, caller, idempotency }) => createPrice(config().tableName, body, caller, idempotency),
);
