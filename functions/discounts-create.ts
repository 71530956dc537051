import { config } from '../shared/config.ts';
import { apiHandler } from '../shared/http/api-handler.ts';
import { SCOPES } from '../shared/http/routes.ts';
import { couponContracts } from '../shared/schemas/coupons.ts';
import { redeemCoupon } from '../shared/use-cases/coupons.ts';

export const handler = apiHandler(
  {
    name: 'discounts-create',
    contract: couponContracts['discounts-create'],
    scopes: [SCOPES.customersCreate],
  },
  ({ params, body, caller, idempotency }) =>
    redeemCoupon(config().tableName, params.id, body, caller, idempotency),
);
