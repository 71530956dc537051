import { config } from '../shared/config.ts';
import { apiHandler } from '../shared/http/api-handler.ts';
import { SCOPES } from '../shared/http/routes.ts';
import { invoiceContracts } from '../shared/schemas/invoices.ts';
import { listInvoices } from '../shared/use-cases/invoicing/invoices.ts';

export const handler = apiHandler(
  { name: 'invoices-list', contract: invoiceContracts['invoices-list'], scopes: [SCOPES.invoicesRead] },
  ({ query, principal }) => listInvoices(config().tableName, query, principal),
);
