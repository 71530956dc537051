import { config } from '../shared/config.ts';
import { apiHandler } from '../shared/http/api-handler.ts';
import { SCOPES } from '../shared/http/routes.ts';
import { refundContracts } from '../shared/schemas/credit-notes.ts';
import { listRefunds } from '../shared/use-cases/invoicing/refunds.ts';

export const handler = apiHandler(
  { name: 'refunds-list', contract: refundContracts['refunds-list'], scopes: [SCOPES.invoicesRead] },
  ({ params, caller }) => listRefunds(config().tableName, params.id, caller.principal),
);
