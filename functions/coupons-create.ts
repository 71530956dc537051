import { config } from '../shared/config.ts';
import { apiHandler } from '../shared/http/api-handler.ts';
import { SCOPES } from '../shared/http/routes.ts';
import { couponContracts } from '../shared/schemas/coupons.ts';
import { createCoupon } from '../shared/use-cases/coupons.ts';

export const handler = apiHandler(
  { name: 'coupons-create', contract: couponContracts['coupons-create'], scopes: [SCOPES.catalogWrite] },
  ({ body, caller, idempotency }) => createCoupon(config().tableName, body, caller, idempotency),
);
