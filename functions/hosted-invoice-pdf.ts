import { config } from '../shared/config.ts';
import { hostedPageHeaders, renderHostedErrorPage } from '../shared/documents/invoice-page.ts';
import { DocumentResult } from '../shared/http/api-handler.ts';
import { hostedHandler } from '../shared/http/hosted-handler.ts';
import { invoicePdf, pdfHeaders } from '../shared/use-cases/documents/invoice-pdf.ts';

/** GET /hosted/invoices/{token}/pdf: the invoice's PDF, through its hosted link. */
export const handler = hostedHandler(async ({ invoice }) => {
  // The stored PDF is the invoice as issued, which reads as payable: a voided one is not handed out here.
  if (invoice.status === 'void') {
    return new DocumentResult(
      renderHostedErrorPage(
        `Invoice ${invoice.number} was voided`,
        `It was voided${invoice.voided_at ? ` on ${invoice.voided_at.slice(0, 10)}` : ''}: nothing is owed on it. The invoice page shows it as void.`,
      ),
      hostedPageHeaders,
      410,
    );
  }
  const pdf = await invoicePdf(config().tableName, invoice);
  return new DocumentResult(pdf.bytes, { ...pdfHeaders(pdf), 'referrer-policy': 'no-referrer' });
});
