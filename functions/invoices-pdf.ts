import { config } from '../shared/config.ts';
import { apiHandler, DocumentResult } from '../shared/http/api-handler.ts';
import { SCOPES } from '../shared/http/routes.ts';
import { invoiceDocumentContracts } from '../shared/schemas/invoice-documents.ts';
import { invoicePdfFor, pdfHeaders } from '../shared/use-cases/documents/invoice-pdf.ts';

export const handler = apiHandler(
  { name: 'invoices-pdf', contract: invoiceDocumentContracts['invoices-pdf'], scopes: [SCOPES.invoicesRead] },
  async ({ params, principal }) => {
    const pdf = await invoicePdfFor(config().tableName, params.id, principal);
    return new DocumentResult(pdf.bytes, pdfHeaders(pdf));
  },
);
