import { config } from '../shared/config.ts';
import { apiHandler } from '../shared/http/api-handler.ts';
import { SCOPES } from '../shared/http/routes.ts';
import { couponContracts } from '../shared/schemas/coupons.ts';
import { listDiscounts } from '../shared/use-cases/coupons.ts';

export const handler = apiHandler(
  { name: 'discounts-list', contract: couponContracts['discounts-list'], scopes: [SCOPES.customersRead] },
  ({ params, caller }) => listDiscounts(config().tableName, params.id, caller.principal),
);
