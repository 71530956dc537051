import { config } from '../shared/config.ts';
import { invoiceDocument, invoiceState } from '../shared/documents/invoice-document.ts';
import { hostedPageHeaders, renderHostedInvoicePage } from '../shared/documents/invoice-page.ts';
import { DocumentResult } from '../shared/http/api-handler.ts';
import { hostedHandler } from '../shared/http/hosted-handler.ts';
import { HOSTED_INVOICE_PATH } from '../shared/use-cases/documents/hosted-invoice-links.ts';

/** GET /hosted/invoices/{token}: the invoice as issued, and where it stands now, as a page. */
export const handler = hostedHandler(async ({ invoice, customer, link }, token) => {
  const page = renderHostedInvoicePage(
    invoiceDocument(invoice, customer, config().invoiceIssuer),
    invoiceState(invoice),
    { pdf: `${HOSTED_INVOICE_PATH}/${token}/pdf`, expiresAt: link.expires_at },
  );
  return new DocumentResult(page, hostedPageHeaders);
});
