import { config } from '../shared/config.ts';
import { apiHandler } from '../shared/http/api-handler.ts';
import { SCOPES } from '../shared/http/routes.ts';
import { couponContracts } from '../shared/schemas/coupons.ts';
import { getCoupon } from '../shared/use-cases/coupons.ts';

export const handler = apiHandler(
  { name: 'coupons-get', contract: couponContracts['coupons-get'], scopes: [SCOPES.catalogRead] },
  ({ params, caller }) => getCoupon(config().tableName, params.id, caller.principal),
);
