import { config } from '../shared/config.ts';
import { apiHandler } from '../shared/http/api-handler.ts';
import { SCOPES } from '../shared/http/routes.ts';
import { invoiceItemContracts } from '../shared/schemas/invoice-items.ts';
import { addInvoiceItem } from '../shared/use-cases/invoicing/add-invoice-item.ts';

export const handler = apiHandler(
  {
    name: 'invoice-items-create',
    contract: invoiceItemContracts['invoice-items-create'],
    scopes: [SCOPES.invoicesWrite],
  },
  ({ body, caller, idempotency }) => addInvoiceItem(config().tableName, body, caller, idempotency),
);
