import { config } from '../shared/config.ts';
import { apiHandler } from '../shared/http/api-handler.ts';
import { SCOPES } from '../shared/http/routes.ts';
import { couponContracts } from '../shared/schemas/coupons.ts';
import { endDiscount } from '../shared/use-cases/coupons.ts';

export const handler = apiHandler(
  {
    name: 'discounts-delete',
    contract: couponContracts['discounts-delete'],
    scopes: [SCOPES.customersCreate],
  },
  ({ params, caller }) => endDiscount(config().tableName, params.id, params.discount_id, caller),
);
