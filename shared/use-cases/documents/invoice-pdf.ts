import { config } from '../../config.ts';
import { invoiceDocument } from '../../documents/invoice-document.ts';
import { renderInvoicePdf } from '../../documents/invoice-pdf.ts';
import type { Customer } from '../../domain/customer.ts';
import type { Invoice } from '../../domain/invoice.ts';
import type { Principal } from '../../domain/principal.ts';
import { CustomersRepository } from '../../store/customers-repository.ts';
import { invoicePdfKey, readDocument, storeDocumentOnce } from '../../store/documents.ts';
import { invoiceFor } from '../invoicing/invoices.ts';

export type InvoicePdf = { number: string; bytes: Uint8Array };

/** GET /invoices/{id}/pdf: the invoice's PDF, if the caller may see the invoice. */
export async function invoicePdfFor(
  tableName: string,
  invoiceId: string,
  principal: Principal,
): Promise<InvoicePdf> {
  const invoice = await invoiceFor(tableName, invoiceId, principal);
  const customer = await new CustomersRepository(tableName).get(invoice.customer_id);
  if (!customer)
    throw new Error(`Invoice ${invoice.id} names customer ${invoice.customer_id}, which is not stored`);
  return invoicePdf(invoice, customer);
}

/**
 * The PDF of a finalized invoice: the stored one, or rendered from the invoice as issued and stored
 * (once; a draft is refused). It never changes afterwards: payments, credit notes and a void are the
 * invoice's state, which the API and the hosted page show. `customer` is the invoice's, as read
 * by the caller (the hosted routes have it already).
 */
export async function invoicePdf(invoice: Invoice, customer: Customer): Promise<InvoicePdf> {
  // Checked (and a draft refused) before the store is read.
  const document = invoiceDocument(invoice, customer, config().invoiceIssuer);
  const key = invoicePdfKey(invoice.id, document.number);
  const stored = await readDocument(key);
  if (stored) return { number: document.number, bytes: stored };
  const bytes = await renderInvoicePdf(document, invoice.finalized_at!);
  await storeDocumentOnce(key, bytes, 'application/pdf');
  return { number: document.number, bytes };
}

/** How a PDF is sent: shown in the browser, saved as `<number>.pdf`, never kept by a shared cache. */
export const pdfHeaders = (pdf: InvoicePdf): Record<string, string> => ({
  'content-type': 'application/pdf',
  'content-disposition': `inline; filename="${pdf.number}.pdf"`,
  'cache-control': 'private, no-store',
  'x-content-type-options': 'nosniff',
  // Opened in a browser's viewer: nothing in it may run or load anything.
  'content-security-policy': "default-src 'none'; sandbox",
});
