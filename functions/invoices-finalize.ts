import { config } from '../shared/config.ts';
import { apiHandler } from '../shared/http/api-handler.ts';
import { SCOPES } from '../shared/http/routes.ts';
import { invoiceContracts } from '../shared/schemas/invoices.ts';
import { finalizeInvoice } from '../shared/use-cases/invoicing/finalize-invoice.ts';

export const handler = apiHandler(
  {
    name: 'invoices-finalize',
    contract: invoiceContracts['invoices-finalize'],
    scopes: [SCOPES.invoicesWrite],
  },
  ({ params, caller, idempotency }) => finalizeInvoice(config().tableName, params.id, caller, idempotency),
);
