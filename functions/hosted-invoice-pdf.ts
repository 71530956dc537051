import { DocumentResult } from '../shared/http/api-handler.ts';
import { hostedErrorPage, hostedHandler } from '../shared/http/hosted-handler.ts';
import { invoicePdf, pdfHeaders } from '../shared/use-cases/documents/invoice-pdf.ts';

/** GET /hosted/invoices/{token}/pdf: the invoice's PDF, through its hosted link. */
export const handler = hostedHandler(async ({ invoice, customer }) => {
  // The stored PDF is the invoice as issued, which reads as payable: a voided one is not handed out here.
  if (invoice.status === 'void') {
    return hostedErrorPage(
      410,
      `Invoice ${invoice.number} was voided`,
      `It was voided${invoice.voided_at ? ` on ${invoice.voided_at.slice(0, 10)}` : ''}: nothing is owed on it. The invoice page shows it as void.`,
    );
  }
  const pdf = await invoicePdf(invoice, customer);
  return new DocumentResult(pdf.bytes, { ...pdfHeaders(pdf), 'referrer-policy': 'no-referrer' });
});
