import { config } from '../shared/config.ts';
import { apiHandler } from '../shared/http/api-handler.ts';
import { SCOPES } from '../shared/http/routes.ts';
import { catalogContracts } from '../shared/schemas/catalog.ts';
import { archivePrice } from '../shared/use-cases/catalog.ts';

export const handler = apiHandler(
  { name: 'prices-archive', contract: catalogContracts['prices-archive'], scopes: [SCOPES.catalogWrite] },
  ({ params, caller, idempotency }) => archivePrice(config().tableName, params.id, caller, idempotency),
);
