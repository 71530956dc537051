import { config } from '../shared/config.ts';
import { apiHandler } from '../shared/http/api-handler.ts';
import { SCOPES } from '../shared/http/routes.ts';
import { refundContracts } from '../shared/schemas/credit-notes.ts';
import { createRefund } from '../shared/use-cases/invoicing/refunds.ts';

export const handler = apiHandler(
  { name: 'refunds-create', contract: refundContracts['refunds-create'], scopes: [SCOPES.invoicesWrite] },
  ({ params, body, caller, idempotency }) =>
    createRefund(config().tableName, params.id, body, caller, idempotency),
);
