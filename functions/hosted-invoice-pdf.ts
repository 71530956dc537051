import { config } from '../shared/config.ts';
import { DocumentResult } from '../shared/http/api-handler.ts';
import { hostedHandler } from '../shared/http/hosted-handler.ts';
import { invoicePdf, pdfHeaders } from '../shared/use-cases/documents/invoice-pdf.ts';

/** GET /hosted/invoices/{token}/pdf: the invoice's PDF, through its hosted link. */
export const handler = hostedHandler(async ({ invoice }) => {
  const pdf = await invoicePdf(config().tableName, invoice);
  return new DocumentResult(pdf.bytes, { ...pdfHeaders(pdf), 'referrer-policy': 'no-referrer' });
});
