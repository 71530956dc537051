import type { Customer } from '../domain/customer.ts';
import { DomainError } from '../domain/errors.ts';
import type { Invoice, InvoiceStatus } from '../domain/invoice.ts';
import { formatMinorUnits } from '../domain/money.ts';

/**
 * What an invoice says as a document, in printable strings: the one view both the PDF
 * (invoice-pdf.ts) and the hosted page (invoice-page.ts) are drawn from, so they cannot disagree.
 *
 * It is the invoice as issued: what finalization fixed (number, dates, lines, taxes, totals, the
 * credit applied and the amount due then). What happens afterwards (payments, credit notes, a void)
 * is the invoice's state, shown live by the hosted page (`status` below), never written into the PDF,
 * which is stored once and does not change.
 */
export type InvoiceDocument = {
  number: string;
  currency: string;
  /** The seller's name and address lines, as the stage states them (may be empty). */
  issuer: readonly string[];
  billTo: { name: string; email: string };
  /** Label and value pairs printed under the title: number, dates, period, currency. */
  facts: readonly (readonly [string, string])[];
  lines: readonly DocumentLine[];
  /** Subtotal, tax per rate, totals, the credit applied and the amount due as issued. */
  totals: readonly DocumentTotal[];
};

export type DocumentLine = {
  description: string;
  /** The period the line is for, e.g. "2026-11-01 to 2026-12-01". */
  period: string;
  /** Empty for lines that bill no quantity (fees, prorations, discounts). */
  quantity: string;
  /** Empty unless the line was sold at a price per unit. */
  unitPrice: string;
  amount: string;
};

export type DocumentTotal = { label: string; amount: string; emphasis: boolean };

/** The invoice's current state, for the hosted page (it changes after issue; the PDF does not show it). */
export type InvoiceState = {
  status: InvoiceStatus;
  statusLabel: string;
  rows: readonly DocumentTotal[];
};

const STATUS_LABELS: Record<InvoiceStatus, string> = {
  draft: 'Draft',
  open: 'Open',
  paid: 'Paid',
  void: 'Void',
  uncollectible: 'Uncollectible',
};

/** YYYY-MM-DD of an ISO-8601 UTC time. */
const day = (iso: string): string => iso.slice(0, 10);

/**
 * A finalized invoice as a document; a draft is not one yet (its lines and totals can still change).
 * The seller is the one kept on the invoice when it was finalized; `currentIssuer` (the stage's
 * setting now) only for invoices finalized before it was kept.
 */
export function invoiceDocument(
  invoice: Invoice,
  customer: Customer,
  currentIssuer: readonly string[],
): InvoiceDocument {
  if (invoice.status === 'draft' || invoice.number === null || invoice.finalized_at === null) {
    throw new DomainError(
      'invalid-state-transition',
      `Invoice ${invoice.id} is a draft: it becomes a document when it is finalized (POST /api/v1/invoices/${invoice.id}/finalize)`,
    );
  }
  const money = (amount: number) => formatMinorUnits(amount, invoice.currency);
  const facts: [string, string][] = [
    ['Invoice number', invoice.number],
    ['Date of issue', day(invoice.finalized_at)],
  ];
  if (invoice.due_date) facts.push(['Date due', day(invoice.due_date)]);
  if (invoice.period_end > invoice.period_start)
    facts.push(['Service period', `${day(invoice.period_start)} to ${day(invoice.period_end)}`]);
  facts.push(['Currency', invoice.currency]);

  const lines = invoice.lines.map(
    (line): DocumentLine => ({
      description: line.description,
      period:
        line.period_end > line.period_start ? `${day(line.period_start)} to ${day(line.period_end)}` : '',
      quantity: line.quantity ?? '',
      unitPrice: line.unit_amount === undefined ? '' : money(line.unit_amount),
      amount: money(line.amount),
    }),
  );

  const totals: DocumentTotal[] = [{ label: 'Subtotal', amount: money(invoice.subtotal), emphasis: false }];
  for (const rate of invoice.total_taxes) {
    const name = `${rate.display_name} ${rate.percentage}%${rate.jurisdiction ? ` (${rate.jurisdiction})` : ''}`;
    const label = rate.inclusive
      ? `Includes ${name} on ${money(rate.taxable_amount)}`
      : `${name} on ${money(rate.taxable_amount)}`;
    totals.push({ label, amount: money(rate.amount), emphasis: false });
  }
  if (invoice.tax_rates.length > 0) {
    totals.push({
      label: 'Total excluding tax',
      amount: money(invoice.total_excluding_tax),
      emphasis: false,
    });
  }
  totals.push({ label: 'Total', amount: money(invoice.total), emphasis: true });
  if (invoice.credit_applied > 0)
    totals.push({
      label: 'Credit applied from balance',
      amount: money(-invoice.credit_applied),
      emphasis: false,
    });
  if (invoice.credited_to_balance > 0)
    totals.push({
      label: 'Credited to balance',
      amount: money(invoice.credited_to_balance),
      emphasis: false,
    });
  totals.push({ label: 'Amount due', amount: money(issuedAmountDue(invoice)), emphasis: true });

  return {
    number: invoice.number,
    currency: invoice.currency,
    issuer: invoice.issuer ?? currentIssuer,
    billTo: { name: customer.name, email: customer.email },
    facts,
    lines,
    totals,
  };
}

/** What was due when the invoice was finalized (invoice.ts applyCredit): credit notes come later. */
export const issuedAmountDue = (invoice: Invoice): number =>
  Math.max(invoice.total, 0) - invoice.credit_applied;

/** Where the invoice stands now: status, payments, credit notes and what is still due. */
export function invoiceState(invoice: Invoice): InvoiceState {
  const money = (amount: number) => formatMinorUnits(amount, invoice.currency);
  const rows: DocumentTotal[] = [];
  if (invoice.amount_paid > 0)
    rows.push({ label: 'Amount paid', amount: money(invoice.amount_paid), emphasis: false });
  if (invoice.pre_payment_credit_notes_amount > 0)
    rows.push({
      label: 'Credit notes (off the amount due)',
      amount: money(-invoice.pre_payment_credit_notes_amount),
      emphasis: false,
    });
  if (invoice.post_payment_credit_notes_amount > 0)
    rows.push({
      label: 'Credit notes (given back after payment)',
      amount: money(-invoice.post_payment_credit_notes_amount),
      emphasis: false,
    });
  // amount_due stays what was due once paid (as Stripe's does); what is left to pay is 0 then.
  const due = invoice.status === 'open' || invoice.status === 'uncollectible' ? invoice.amount_due : 0;
  rows.push({ label: 'Amount due now', amount: money(due), emphasis: true });
  return { status: invoice.status, statusLabel: STATUS_LABELS[invoice.status], rows };
}
