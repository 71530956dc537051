import { config } from '../shared/config.ts';
import { apiHandler } from '../shared/http/api-handler.ts';
import { SCOPES } from '../shared/http/routes.ts';
import { couponContracts } from '../shared/schemas/coupons.ts';
import { listCoupons } from '../shared/use-cases/coupons.ts';

export const handler = apiHandler(
  { name: 'coupons-list', contract: couponContracts['coupons-list'], scopes: [SCOPES.catalogRead] },
  ({ query, caller }) => listCoupons(config().tableName, query, caller.principal),
);
