import { config } from '../shared/config.ts';
import { apiHandler } from '../shared/http/api-handler.ts';
import { SCOPES } from '../shared/http/routes.ts';
import { invoiceItemContracts } from '../shared/schemas/invoice-items.ts';
import { createOneOffInvoice } from '../shared/use-cases/invoicing/create-one-off-invoice.ts';

export const handler = apiHandler(
  {
    name: 'invoices-create',
    contract: invoiceItemContracts['invoices-create'],
    scopes: [SCOPES.invoicesWrite],
  },
  ({ body, caller, idempotency }) => createOneOffInvoice(config().tableName, body, caller, idempotency),
);
