import { config } from '../shared/config.ts';
import { apiHandler } from '../shared/http/api-handler.ts';
import { SCOPES } from '../shared/http/routes.ts';
import { taxRateContracts } from '../shared/schemas/tax-rates.ts';
import { listTaxRates } from '../shared/use-cases/tax-rates.ts';

export const handler = apiHandler(
  { name: 'tax-rates-list', contract: taxRateContracts['tax-rates-list'], scopes: [SCOPES.catalogRead] },
  ({ query }) => listTaxRates(config().tableName, query),
);
