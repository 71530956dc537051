import { DomainError, validationError } from './errors.ts';
import type { Invoice, InvoiceLine } from './invoice.ts';
import { discountShares } from './invoice-tax.ts';
import { assertMinorUnits, roundHalfUp } from './money.ts';
import { taxesOfLine } from './tax.ts';
import { millionthsToQuantity, quantityToMillionths } from './usage.ts';

/**
 * The credit note rule (docs/invoicing.md, "Credit notes"), after Stripe's: a credit note takes
 * back part or all of a finalized invoice, line by line, tax included.
 *
 * - **What a line can give back** is what it billed: its amount less its share of the invoice's
 *   discounts (`net`, the base its taxes were computed on). Prepaid time (fees billed in advance,
 *   prorations) is not credited: the subscription gives back unused time itself (prepaidTime). Credits of one line add up to at most
 *   that; an amount is on the line's own basis (tax excluded for exclusive rates, included for
 *   inclusive ones), a quantity (lines that have one) gives back net × q / Q. A line is credited
 *   by amount or by quantity, never both (as Stripe).
 * - **Tax** follows the one tax rule (tax.ts) on all a line's credits together: after credits of c
 *   in all, the tax given back is the rule's tax on c at the line's rates, less what earlier notes
 *   gave back. A note's tax is the tax on what it credits to within a unit, and a line credited in
 *   full gives back exactly its taxes (the rule on its net), however many notes it took.
 * - **Totals**: subtotal = Σ amounts, tax = Σ taxes, total = subtotal + the exclusive taxes. All of
 *   an invoice's credit notes together give back at most its total.
 * - **Where the money goes**: first off what is still due (`pre_payment_amount`, never below
 *   zero); the rest (`post_payment_amount`: the invoice was paid, or part of it was paid from the
 *   credit balance) goes to the customer's credit balance, is refunded on the invoice's payment
 *   (`refund`), or is recorded as returned outside this service (`out_of_band`). An open (or
 *   uncollectible) invoice left with nothing due is paid.
 * - With no lines named, the note credits everything not yet credited: every charge line's rest
 *   (prepaid time aside), and each threshold credit line in full.
 */
export const CREDIT_NOTE_REASONS = [
  'duplicate',
  'fraudulent',
  'order_change',
  'product_unsatisfactory',
] as const;
export type CreditNoteReason = (typeof CREDIT_NOTE_REASONS)[number];

/** Where the part of a note beyond what is due goes. */
export const POST_PAYMENT_DESTINATIONS = ['credit_balance', 'refund', 'out_of_band'] as const;
export type PostPaymentDestination = (typeof POST_PAYMENT_DESTINATIONS)[number];

export type CreditNoteLineRequest = { invoice_line_id: string; amount?: number; quantity?: string };

export type CreditNoteRequest = {
  reason: CreditNoteReason;
  memo?: string | undefined;
  /** Absent: the whole invoice (everything not credited yet). */
  lines?: readonly CreditNoteLineRequest[] | undefined;
  post_payment_to?: PostPaymentDestination | undefined;
};

export type CreditNoteLineTax = {
  tax_rate_id: string;
  percentage: string;
  inclusive: boolean;
  amount: number;
};

export type CreditNoteLine = {
  invoice_line_id: string;
  description: string;
  /** The quantity given back, for a credit by quantity; null for one by amount. */
  quantity: string | null;
  /** Minor units given back, on the line's basis; negative when it takes back a credit line. */
  amount: number;
  taxes: CreditNoteLineTax[];
};

/** What a credit note computes: its lines and figures, and where its money goes. */
export type CreditNoteFigures = {
  lines: CreditNoteLine[];
  subtotal: number;
  tax: number;
  total: number;
  total_excluding_tax: number;
  pre_payment_amount: number;
  post_payment_amount: number;
  /** Of post_payment_amount: what goes to the customer's credit balance. */
  credit_amount: number;
  /** Of post_payment_amount: what is refunded on the invoice's payment (refunds.ts). */
  refund_amount: number;
  /** Of post_payment_amount: what was (or will be) returned outside this service. */
  out_of_band_amount: number;
};

export type CreditNote = CreditNoteFigures & {
  id: string;
  number: string;
  invoice_id: string;
  invoice_number: string;
  customer_id: string;
  currency: string;
  reason: CreditNoteReason;
  memo: string | null;
  /** The refund carrying out refund_amount, if any. */
  refund_id: string | null;
  created_at: string;
  version: number;
};

/** Credit notes one invoice takes at most (each is numbered and audited; a correction, not a ledger). */
export const MAX_CREDIT_NOTES_PER_INVOICE = 50;

/** What earlier notes gave back of a line (kept on the invoice line; absent: nothing yet). */
export type LineCredit = Pick<InvoiceLine, 'credited_amount' | 'credited_quantity' | 'credited_taxes'>;

/** A request the invoice cannot take, naming the field to fix (400, as a schema error would be). */
const unprocessable = (message: string, field: string) => validationError([{ field, message }]);

/**
 * The credit note `request` makes of `invoice`, and the invoice after it (its lines' credits and
 * credit-note totals, amount due lowered; not yet paid: the caller settles one left with nothing
 * due). Refusals name the field to fix.
 */
export function creditNoteOf(
  invoice: Invoice,
  request: CreditNoteRequest,
  discounted: (line: InvoiceLine) => boolean,
): { figures: CreditNoteFigures; invoice: Invoice } {
  if (invoice.status === 'draft')
    throw new DomainError(
      'conflict',
      `Invoice ${invoice.id} is a draft: change its lines, or finalize it first`,
    );
  if (invoice.status === 'void')
    throw new DomainError('conflict', `Invoice ${invoice.id} is void: there is nothing left to credit`);
  if (invoice.pending_payment)
    throw new DomainError(
      'conflict',
      `Invoice ${invoice.id} has a payment under way at Stripe; credit it once that payment has succeeded or failed`,
    );
  if (invoice.credit_note_count >= MAX_CREDIT_NOTES_PER_INVOICE)
    throw new DomainError(
      'conflict',
      `Invoice ${invoice.id} has ${MAX_CREDIT_NOTES_PER_INVOICE} credit notes, the most one invoice takes`,
    );
  const netOf = billedBy(invoice, discounted);
  const credits = request.lines
    ? request.lines.map((wanted, i) => lineCredit(invoice, wanted, i, request.lines!, netOf))
    : wholeInvoice(invoice, netOf);
  if (credits.length === 0) throw unprocessable(`Invoice ${invoice.id} has nothing left to credit`, 'lines');
  const lines = credits.map((credit) => credit.noteLine);
  const subtotal = sum(lines.map((line) => line.amount));
  const tax = sum(lines.flatMap((line) => line.taxes.map((t) => t.amount)));
  const exclusive = sum(lines.flatMap((line) => line.taxes.filter((t) => !t.inclusive).map((t) => t.amount)));
  const total = assertMinorUnits(subtotal + exclusive, 'credit note total');
  if (total <= 0)
    throw unprocessable(
      `The credit note would give back ${total} ${invoice.currency}: name lines that add up to more than the credits they take back`,
      'lines',
    );
  const creditedBefore = invoice.pre_payment_credit_notes_amount + invoice.post_payment_credit_notes_amount;
  const creditable = invoice.total - creditedBefore;
  if (total > creditable)
    throw unprocessable(
      creditable <= 0
        ? `Invoice ${invoice.id} has nothing left to credit (its total is ${invoice.total} ${invoice.currency}, ${creditedBefore} credited)`
        : `The credit note's total (${total} ${invoice.currency}) is more than is left to credit on invoice ${invoice.id}: at most ${creditable}`,
      'lines',
    );
  const stillDue = invoice.status === 'paid' ? 0 : invoice.amount_due;
  const pre = Math.min(total, stillDue);
  const post = total - pre;
  const outOfBand = request.post_payment_to === 'out_of_band' ? post : 0;
  const refunded = request.post_payment_to === 'refund' ? post : 0;
  const changed = new Map(credits.map((credit) => [credit.line.id, credit.after]));
  return {
    figures: {
      lines,
      subtotal,
      tax,
      total,
      total_excluding_tax: total - tax,
      pre_payment_amount: pre,
      post_payment_amount: post,
      credit_amount: post - outOfBand - refunded,
      refund_amount: refunded,
      out_of_band_amount: outOfBand,
    },
    invoice: {
      ...invoice,
      lines: invoice.lines.map((line) => {
        const after = changed.get(line.id);
        return after ? { ...line, ...after } : line;
      }),
      amount_due: invoice.amount_due - pre,
      pre_payment_credit_notes_amount: invoice.pre_payment_credit_notes_amount + pre,
      post_payment_credit_notes_amount: invoice.post_payment_credit_notes_amount + post,
      credit_note_count: invoice.credit_note_count + 1,
    },
  };
}

type Credit = { line: InvoiceLine; noteLine: CreditNoteLine; after: Required<LineCredit> };

/** One requested line: the line named, exactly one of amount and quantity, within what is left. */
function lineCredit(
  invoice: Invoice,
  wanted: CreditNoteLineRequest,
  i: number,
  all: readonly CreditNoteLineRequest[],
  netOf: (line: InvoiceLine) => number,
): Credit {
  const field = `lines.${i}`;
  const line = invoice.lines.find((candidate) => candidate.id === wanted.invoice_line_id);
  if (!line)
    throw unprocessable(
      `Invoice ${invoice.id} has no line ${wanted.invoice_line_id}`,
      `${field}.invoice_line_id`,
    );
  if (all.findIndex((other) => other.invoice_line_id === wanted.invoice_line_id) !== i)
    throw unprocessable(`Line ${line.id} is named twice: credit it once`, `${field}.invoice_line_id`);
  const prepaid = prepaidTime(line, invoice);
  if (prepaid) throw unprocessable(prepaid, `${field}.invoice_line_id`);
  if (line.kind === 'discount' || netOf(line) <= 0)
    throw unprocessable(
      line.kind === 'discount'
        ? `Line ${line.id} is a discount: credit the lines it discounted (each gives back what it billed after the discount)`
        : `Line ${line.id} billed nothing (${netOf(line)} ${invoice.currency}): only a line that charged something can be credited`,
      `${field}.invoice_line_id`,
    );
  if ((wanted.amount === undefined) === (wanted.quantity === undefined))
    throw unprocessable('Send amount or quantity, exactly one of them', `${field}.amount`);
  const net = netOf(line);
  const before = line.credited_amount ?? 0;
  if (wanted.amount !== undefined) {
    if (line.credited_quantity != null)
      throw unprocessable(
        `Line ${line.id} was credited by quantity before: credit it by quantity again`,
        `${field}.amount`,
      );
    if (wanted.amount > net - before)
      throw unprocessable(
        `Line ${line.id} has ${net - before} ${invoice.currency} left to credit (it billed ${net}; ${before} credited)`,
        `${field}.amount`,
      );
    return credited(line, net, before + wanted.amount, null, null);
  }
  if (line.quantity === null || line.kind === 'threshold_usage')
    throw unprocessable(
      line.quantity === null
        ? `Line ${line.id} has no quantity: credit it by amount`
        : `Line ${line.id} bills the usage since the period's earlier threshold invoices, not its quantity (${line.quantity}, the period so far): credit it by amount`,
      `${field}.quantity`,
    );
  if (before > 0 && line.credited_quantity == null)
    throw unprocessable(
      `Line ${line.id} was credited by amount before: credit it by amount again`,
      `${field}.quantity`,
    );
  // Exactly, in millionths (quantities have at most 6 decimals): compared and divided without rounding.
  const q = quantityToMillionths(line.quantity);
  const a = quantityToMillionths(line.credited_quantity ?? '0');
  const k = quantityToMillionths(wanted.quantity!);
  if (k <= 0n) throw unprocessable('must be above 0', `${field}.quantity`);
  if (a + k > q)
    throw unprocessable(
      `Line ${line.id} has ${millionthsToQuantity(q - a)} left to credit (it billed ${line.quantity}; ${line.credited_quantity ?? '0'} credited)`,
      `${field}.quantity`,
    );
  const creditedAfter = roundHalfUp(BigInt(net) * (a + k), q);
  return credited(line, net, creditedAfter, millionthsToQuantity(a + k), wanted.quantity!);
}

/** Every line not credited in full: charge lines' rest, credit lines whole. */
function wholeInvoice(invoice: Invoice, netOf: (line: InvoiceLine) => number): Credit[] {
  return invoice.lines
    .filter(
      (line) =>
        line.kind !== 'discount' &&
        !prepaidTime(line, invoice) &&
        netOf(line) !== 0 &&
        (line.credited_amount ?? 0) !== netOf(line),
    )
    .map((line) =>
      credited(line, netOf(line), netOf(line), line.credited_quantity == null ? null : line.quantity, null),
    );
}

/** The line credited up to `creditedAfter` in all: this note's part of it, with its taxes. */
function credited(
  line: InvoiceLine,
  net: number,
  creditedAfter: number,
  quantityAfter: string | null,
  quantityNow: string | null,
): Credit {
  const before = line.credited_amount ?? 0;
  const taxesBefore = line.credited_taxes ?? line.taxes.map(() => 0);
  // The tax rule itself (tax.ts) on all that has been given back: at c = net it is the line's taxes.
  const rates = line.taxes.map((tax) => ({
    id: tax.tax_rate_id,
    display_name: tax.tax_rate_id,
    jurisdiction: null,
    percentage: tax.percentage,
    inclusive: tax.inclusive,
  }));
  // In full, exactly the line's own taxes (what it was charged), whatever the line's history.
  // Each rate stays between what it gave back before and its tax on the line: split over several
  // inclusive rates, one rate's share of a larger amount can be a unit smaller.
  const taxesAfter =
    creditedAfter === net
      ? line.taxes.map((tax) => tax.amount)
      : taxesOfLine(creditedAfter, rates).map((tax, i) =>
          clampTowards(tax.amount, taxesBefore[i] ?? 0, line.taxes[i]!.amount),
        );
  return {
    line,
    noteLine: {
      invoice_line_id: line.id,
      description: line.description,
      quantity: quantityNow,
      amount: creditedAfter - before,
      taxes: line.taxes.map((tax, i) => ({
        tax_rate_id: tax.tax_rate_id,
        percentage: tax.percentage,
        inclusive: tax.inclusive,
        amount: taxesAfter[i]! - (taxesBefore[i] ?? 0),
      })),
    },
    after: { credited_amount: creditedAfter, credited_quantity: quantityAfter, credited_taxes: taxesAfter },
  };
}

/** `value` kept between `from` and `to` (either order): a running total that only moves towards its end. */
function clampTowards(value: number, from: number, to: number): number {
  return Math.min(Math.max(value, Math.min(from, to)), Math.max(from, to));
}

/**
 * Why a line is prepaid time a credit note must not give back, or undefined: a fee billed in advance
 * and prorations (the charges and credits of prepaid time) are given back by the subscription
 * itself, as unused time when it is downgraded or canceled; a credit note giving them back too
 * would pay the same time back twice.
 */
function prepaidTime(line: InvoiceLine, invoice: Invoice): string | undefined {
  const inAdvance = line.kind === 'subscription_fee' && line.period_start >= invoice.period_end;
  if (!inAdvance && line.kind !== 'proration') return undefined;
  return `Line ${line.id} is ${line.kind === 'proration' ? 'a proration' : 'a fee billed in advance'}: prepaid time is given back by the subscription itself (a downgrade, or a cancel with prorate, credits the unused time), so a credit note does not credit it`;
}

/**
 * What each line billed (the base its taxes were computed on): read from its taxes when it has
 * some (the amount before tax, plus the tax for inclusive rates), else its amount less its share of
 * the invoice's discounts. An invoice whose discounts cannot be laid on its lines is refused.
 */
function billedBy(
  invoice: Invoice,
  discounted: (line: InvoiceLine) => boolean,
): (line: InvoiceLine) => number {
  const hasDiscounts = invoice.lines.some((line) => line.kind === 'discount');
  let shares: Map<string, number> | undefined;
  const shareOf = (line: InvoiceLine): number => {
    if (!hasDiscounts) return 0;
    if (!shares) {
      try {
        shares = discountShares(invoice.lines, discounted);
      } catch {
        throw new DomainError(
          'conflict',
          `Invoice ${invoice.id} has discounts that cannot be laid on its lines (it was discounted by an earlier rule); credit it with help from an operator of the service`,
        );
      }
    }
    return shares.get(line.id) ?? 0;
  };
  return (line) => {
    const [first] = line.taxes;
    if (first)
      return first.inclusive
        ? first.taxable_amount + sum(line.taxes.map((t) => t.amount))
        : first.taxable_amount;
    return line.amount - shareOf(line);
  };
}

const sum = (values: readonly number[]): number => values.reduce((total, value) => total + value, 0);
