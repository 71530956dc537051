import { shareOverLines } from './discount.ts';
import type { Invoice, InvoiceLine } from './invoice.ts';
import { assertMinorUnits } from './money.ts';
import { invoiceTax, type RateTotal, type TaxRate } from './tax.ts';

/**
 * How an invoice is taxed (docs/invoicing.md, "Tax"): when it is finalized, every line gets the
 * invoice's rates (its subscription's or else its customer's, as they are then; a threshold credit
 * those of the invoice it credits, so it takes back what that invoice charged), each line's taxes
 * follow the one tax rule (tax.ts), and the invoice's figures are sums of its lines' figures, never rounded again:
 *
 *   subtotal            = Σ line amounts (what the lines say; inclusive taxes are inside them)
 *   tax                 = Σ every line's taxes
 *   total               = subtotal + the exclusive taxes (what the customer is billed)
 *   total_excluding_tax = total − tax
 *
 * With discount lines, `total` still equals subtotal + the exclusive taxes (the discounts are in
 * the subtotal), and each charge line's taxes are on what the discounts left of it.
 *
 * A draft is not taxed yet: its tax is 0 and its total its subtotal, as its credit is applied only
 * at finalization too. The invoice keeps the rates as they were applied (`tax_rates`), so it reads
 * the same whatever happens to a rate later.
 */
export type InvoiceTaxFields = Pick<
  Invoice,
  'subtotal' | 'tax' | 'total' | 'total_excluding_tax' | 'total_taxes' | 'tax_rates'
>;

/** What an invoice shows for one rate: the rate as applied, its taxable amount and its tax. */
export type InvoiceRateTotal = RateTotal & { display_name: string; jurisdiction: string | null };

/**
 * The lines with their taxes at `rates`, and the invoice's tax figures. Discount lines (coupons.ts)
 * are not taxed themselves: what they take off is shared over the lines it was taken from
 * (shareOverLines), and each of those is taxed on its amount less its share.
 */
export function taxedInvoice(
  lines: readonly InvoiceLine[],
  rates: readonly TaxRate[],
  /** Which lines the discount lines were taken from (coupons.ts isDiscountable); all charges if not said. */
  discounted: (line: InvoiceLine) => boolean = () => true,
): InvoiceTaxFields & { lines: InvoiceLine[] } {
  const shareOf = discountShares(lines, discounted);
  const taxed = invoiceTax(
    lines.map((line) =>
      line.kind === 'discount'
        ? { amount: 0, rates: [] }
        : { amount: line.amount - (shareOf.get(line.id) ?? 0), rates: line.credited_tax_rates ?? rates },
    ),
  );
  // Named from the invoice's rates and those a threshold credit is taxed back at.
  const byId = new Map(
    [...lines.flatMap((line) => line.credited_tax_rates ?? []), ...rates].map((rate) => [rate.id, rate]),
  );
  const subtotal = assertMinorUnits(
    lines.reduce((sum, line) => sum + line.amount, 0),
    'invoice subtotal',
  );
  return {
    lines: lines.map((line, i) => ({ ...line, taxes: line.kind === 'discount' ? [] : taxed.lines[i]! })),
    subtotal,
    tax: taxed.tax,
    total: taxed.total,
    total_excluding_tax: taxed.subtotal_excluding_tax,
    total_taxes: taxed.by_rate.map((total) => ({
      ...total,
      display_name: byId.get(total.tax_rate_id)?.display_name ?? total.tax_rate_id,
      jurisdiction: byId.get(total.tax_rate_id)?.jurisdiction ?? null,
    })),
    tax_rates: [...rates],
  };
}

/**
 * What the discount lines take, shared over the lines they were taken from (coupons.ts), by line id:
 * each of those lines billed its amount less its share (what it is taxed on, and what a credit note
 * can give back of it). Lines with no share are absent.
 */
export function discountShares(
  lines: readonly InvoiceLine[],
  discounted: (line: InvoiceLine) => boolean,
): Map<string, number> {
  const discount = -lines.reduce((sum, line) => sum + (line.kind === 'discount' ? line.amount : 0), 0);
  const targets = lines.filter((line) => line.kind !== 'discount' && line.amount > 0 && discounted(line));
  const shares = shareOverLines(
    discount,
    targets.map((line) => line.amount),
  );
  return new Map(targets.map((line, i) => [line.id, shares[i]!]));
}

/** The tax figures of lines not taxed (yet): a draft's, or an invoice with no rates. */
export const untaxed = (total: number): InvoiceTaxFields => ({
  subtotal: total,
  tax: 0,
  total,
  total_excluding_tax: total,
  total_taxes: [],
  tax_rates: [],
});
