import { config } from '../shared/config.ts';
import { apiHandler } from '../shared/http/api-handler.ts';
import { SCOPES } from '../shared/http/routes.ts';
import { invoiceContracts } from '../shared/schemas/invoices.ts';
import { getInvoice } from '../shared/use-cases/invoicing/invoices.ts';

export const handler = apiHandler(
  { name: 'invoices-get', contract: invoiceContracts['invoices-get'], scopes: [SCOPES.invoicesRead] },
  ({ params, principal }) => getInvoice(config().tableName, params.id, principal),
);
