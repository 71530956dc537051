import { config } from '../shared/config.ts';
import { apiHandler } from '../shared/http/api-handler.ts';
import { SCOPES } from '../shared/http/routes.ts';
import { taxRateContracts } from '../shared/schemas/tax-rates.ts';
import { createTaxRate } from '../shared/use-cases/tax-rates.ts';

export const handler = apiHandler(
  { name: 'tax-rates-create', contract: taxRateContracts['tax-rates-create'], scopes: [SCOPES.catalogWrite] },
  ({ body, caller, idempotency }) => createTaxRate(config().tableName, body, caller, idempotency),
);
