import { config } from '../shared/config.ts';
import { apiHandler } from '../shared/http/api-handler.ts';
import { SCOPES } from '../shared/http/routes.ts';
import { invoiceContracts } from '../shared/schemas/invoices.ts';
import { changeInvoiceStatus } from '../shared/use-cases/invoicing/change-invoice-status.ts';

export const handler = apiHandler(
  { name: 'invoices-void', contract: invoiceContracts['invoices-void'], scopes: [SCOPES.invoicesWrite] },
  ({ params, caller, idempotency }) =>
    changeInvoiceStatus(config().tableName, params.id, 'void', caller, idempotency),
);
