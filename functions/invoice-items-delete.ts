import { config } from '../shared/config.ts';
import { apiHandler } from '../shared/http/api-handler.ts';
import { SCOPES } from '../shared/http/routes.ts';
import { invoiceItemContracts } from '../shared/schemas/invoice-items.ts';
import { deleteInvoiceItem } from '../shared/use-cases/invoicing/delete-invoice-item.ts';

export const handler = apiHandler(
  {
    name: 'invoice-items-delete',
    contract: invoiceItemContracts['invoice-items-delete'],
    scopes: [SCOPES.invoicesWrite],
  },
  ({ params, caller }) => deleteInvoiceItem(config().tableName, params.id, caller),
);
