import { config } from '../shared/config.ts';
import { apiHandler } from '../shared/http/api-handler.ts';
import { SCOPES } from '../shared/http/routes.ts';
import { invoiceContracts } from '../shared/schemas/invoices.ts';
import { payInvoice } from '../shared/use-cases/invoicing/pay-invoice.ts';

export const handler = apiHandler(
  { name: 'invoices-pay', contract: invoiceContracts['invoices-pay'], scopes: [SCOPES.invoicesWrite] },
  ({ params, body, caller, idempotency }) =>
    payInvoice(config().tableName, params.id, body, caller, idempotency),
);
