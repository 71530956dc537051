import { config } from '../shared/config.ts';
import { apiHandler } from '../shared/http/api-handler.ts';
import { SCOPES } from '../shared/http/routes.ts';
import { invoiceItemContracts } from '../shared/schemas/invoice-items.ts';
import { listInvoiceItems } from '../shared/use-cases/invoicing/invoice-items.ts';

export const handler = apiHandler(
  {
    name: 'invoice-items-list',
    contract: invoiceItemContracts['invoice-items-list'],
    scopes: [SCOPES.invoicesRead],
  },
  ({ query, principal }) => listInvoiceItems(config().tableName, query, principal),
);
