import { config } from '../shared/config.ts';
import { apiHandler } from '../shared/http/api-handler.ts';
import { SCOPES } from '../shared/http/routes.ts';
import { taxRateContracts } from '../shared/schemas/tax-rates.ts';
import { getTaxRate } from '../shared/use-cases/tax-rates.ts';

export const handler = apiHandler(
  { name: 'tax-rates-get', contract: taxRateContracts['tax-rates-get'], scopes: [SCOPES.catalogRead] },
  ({ params }) => getTaxRate(config().tableName, params.id),
);
