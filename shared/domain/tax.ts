import { DomainError } from './errors.ts';
import {
  apportion,
  assertMinorUnits,
  HUNDRED_PERCENT,
  isPercent,
  percentUnits,
  roundHalfUp,
} from './money.ts';

/**
 * The one tax rule (docs/invoicing.md, "Tax"). A line carries the tax rates of its customer or
 * subscription, all exclusive or all inclusive; every tax is rounded once, by `roundHalfUp` (the
 * nearest minor unit, halves away from zero), with p_i a rate's percentage, exact (a decimal string
 * of at most 4 places):
 *
 *   exclusive (the line's amount is before tax): tax_i = round(amount × p_i / 100), rate by rate
 *     (Zuora's per-tax-item rounding; Quebec: 100.00 + GST 5 % + QST 9.975 % = 5.00 + 9.98); the
 *     customer pays amount + Σ tax_i.
 *   inclusive (the line's amount already holds its tax): the line's tax is rounded once,
 *     T = round(amount × Σp / (100 + Σp)), and split over its rates by largest remainder (each rate
 *     gets its exact share amount × p_i / (100 + Σp) rounded down or up, the largest fractions up,
 *     ties to the earlier rate, until the parts add up to T); amount − T is before tax. Rounding the
 *     tax, not the net, is Zuora's "round the tax amount" option (its default rounds the net: the
 *     two differ only when the exact tax ends in exactly a half, where this rounds the tax up, as the
 *     exclusive rule does). Rounding the line's tax once keeps it within half a unit of exact and
 *     never above the amount, which rounding each rate alone cannot promise.
 *
 * A credit line (negative) gets exactly the negative of the taxes of the same charge. An invoice's
 * tax for a rate is the sum of its lines' taxes for that rate, never rounded again, so its figures
 * always add up from its lines.
 */
export type TaxRate = {
  id: string;
  display_name: string;
  /** Where the tax is owed, as printed on the invoice (e.g. "DE", "US-NY"); null if not stated. */
  jurisdiction: string | null;
  /** Percent, as a decimal string with at most 4 places, from "0" to "100" (e.g. "19", "8.875"). */
  percentage: string;
  inclusive: boolean;
};

/**
 * A tax rate as the API keeps it (POST /tax-rates). Like a price, it is never edited: its
 * percentage is part of every invoice it was applied to, so a new rate is created instead.
 */
export type TaxRateResource = TaxRate & {
  description: string | null;
  active: boolean;
  created_at: string;
  updated_at: string;
  version: number;
};

/** The rule-relevant part of a stored rate, as an invoice keeps it (what it was when applied). */
export const rateAsApplied = (rate: TaxRate): TaxRate => ({
  id: rate.id,
  display_name: rate.display_name,
  jurisdiction: rate.jurisdiction,
  percentage: rate.percentage,
  inclusive: rate.inclusive,
});

/** Tax rates a customer carries at most: each line of its invoices gets all of them. */
export const MAX_TAX_RATES_PER_CUSTOMER = 10;

/** One rate's part of one line: the rate as it was applied, and its tax. */
export type LineTax = {
  tax_rate_id: string;
  percentage: string;
  inclusive: boolean;
  /** The line's amount before tax, minor units (the same for every rate of the line). */
  taxable_amount: number;
  /** This rate's tax on the line, minor units. */
  amount: number;
};

/** Rates one line may carry (as Stripe allows). */
export const MAX_TAX_RATES_PER_LINE = MAX_TAX_RATES_PER_CUSTOMER;

/** What a tax rate's percentage must be, as a validation message. */
export const PERCENTAGE_RULE =
  'must be a decimal string from "0" to "100" with at most 4 decimal places and no leading zero, such as "19" or "8.875"';

/** Why `value` is not a percentage a tax rate can have, or undefined when it is one. */
export function percentageProblem(value: unknown): string | undefined {
  return isPercent(value) ? undefined : PERCENTAGE_RULE;
}

/** The rate's percentage exactly, in `percentUnits` (p × 10^4); refused, naming the rate, if unreadable. */
function scaledPercentage(rate: TaxRate): bigint {
  const problem = percentageProblem(rate.percentage);
  if (problem)
    throw new DomainError(
      'unprocessable',
      `Tax rate ${rate.id}: percentage ${problem} (got ${JSON.stringify(rate.percentage)})`,
    );
  return percentUnits(rate.percentage);
}

/**
 * Each rate's tax on a line of `amount` minor units, in the order of `rates`. No rates: no taxes.
 * Refuses rates that mix inclusive and exclusive, repeat one rate, or are more than the limit.
 */
export function taxesOfLine(amount: number, rates: readonly TaxRate[]): LineTax[] {
  assertMinorUnits(amount, 'line amount');
  if (rates.length === 0) return [];
  if (rates.length > MAX_TAX_RATES_PER_LINE)
    throw new DomainError(
      'unprocessable',
      `A line can carry at most ${MAX_TAX_RATES_PER_LINE} tax rates, not ${rates.length}`,
    );
  const repeated = rates.find((rate, i) => rates.findIndex((other) => other.id === rate.id) !== i);
  if (repeated) throw new DomainError('unprocessable', `A line cannot carry tax rate ${repeated.id} twice`);
  const inclusive = rates[0]!.inclusive;
  if (rates.some((rate) => rate.inclusive !== inclusive))
    throw new DomainError(
      'unprocessable',
      'The tax rates of one line must be all inclusive or all exclusive: a price cannot both hold a tax and have another added on top',
    );
  const percentages = rates.map(scaledPercentage);
  // Worked on the magnitude, then given the line's sign: a credit undoes its charge exactly.
  const sign = amount < 0 ? -1 : 1;
  const magnitude = BigInt(Math.abs(amount));
  const amounts = inclusive
    ? inclusiveShares(magnitude, percentages)
    : percentages.map((p) => roundHalfUp(magnitude * p, HUNDRED_PERCENT));
  const tax = amounts.reduce((sum, part) => sum + part, 0);
  const taxable = Number(magnitude) - (inclusive ? tax : 0);
  return rates.map((rate, i) => ({
    tax_rate_id: rate.id,
    percentage: rate.percentage,
    inclusive,
    taxable_amount: assertMinorUnits(sign * taxable + 0, 'taxable amount'),
    amount: assertMinorUnits(sign * amounts[i]! + 0, 'tax'),
  }));
}

/** The inclusive taxes of a non-negative amount: the line's tax rounded once, split by largest remainder. */
function inclusiveShares(magnitude: bigint, percentages: readonly bigint[]): number[] {
  const sum = percentages.reduce((total, p) => total + p, 0n);
  const base = HUNDRED_PERCENT + sum;
  const total = BigInt(roundHalfUp(magnitude * sum, base));
  return apportion(
    total,
    percentages.map((p) => magnitude * p),
    base,
  ).map(Number);
}

/** What an invoice shows for one rate (as applied: a rate's id with its percentage and kind). */
export type RateTotal = {
  tax_rate_id: string;
  percentage: string;
  inclusive: boolean;
  taxable_amount: number;
  amount: number;
};

export type InvoiceTax = {
  /** Each line's taxes, in the order of the lines. */
  lines: LineTax[][];
  /** The lines' amounts before tax. */
  subtotal_excluding_tax: number;
  /** Every line's every tax. */
  tax: number;
  /** What the lines cost the customer, tax included: Σ amount + the exclusive taxes. */
  total: number;
  /** One entry per rate as applied, in the order each first appears on the lines. */
  by_rate: RateTotal[];
};

/**
 * An invoice's taxes and tax figures, from its lines' amounts and the rates each carries (a line
 * without rates is untaxed: its amount is both before and after tax). Sums are exact (bigint) and
 * each is checked to be a safe integer of minor units.
 */
export function invoiceTax(lines: readonly { amount: number; rates: readonly TaxRate[] }[]): InvoiceTax {
  const byRate = new Map<string, { rate: LineTax; taxable: bigint; amount: bigint }>();
  let subtotal = 0n;
  let tax = 0n;
  let total = 0n;
  const taxed = lines.map((line) => {
    const taxes = taxesOfLine(line.amount, line.rates);
    const lineTax = BigInt(taxes.reduce((sum, t) => sum + t.amount, 0));
    const inclusive = taxes[0]?.inclusive ?? false;
    subtotal += BigInt(line.amount) - (inclusive ? lineTax : 0n);
    tax += lineTax;
    total += BigInt(line.amount) + (inclusive ? 0n : lineTax);
    for (const t of taxes) {
      const key = JSON.stringify([t.tax_rate_id, t.percentage, t.inclusive]);
      const sum = byRate.get(key) ?? { rate: t, taxable: 0n, amount: 0n };
      sum.taxable += BigInt(t.taxable_amount);
      sum.amount += BigInt(t.amount);
      byRate.set(key, sum);
    }
    return taxes;
  });
  const minor = (value: bigint, what: string) => {
    if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER))
      throw new RangeError(`${what} is beyond what minor units can hold exactly: ${value}`);
    return Number(value);
  };
  return {
    lines: taxed,
    subtotal_excluding_tax: minor(subtotal, 'subtotal'),
    tax: minor(tax, 'tax'),
    total: minor(total, 'total'),
    by_rate: [...byRate.values()].map(({ rate, taxable, amount }) => ({
      tax_rate_id: rate.tax_rate_id,
      percentage: rate.percentage,
      inclusive: rate.inclusive,
      taxable_amount: minor(taxable, `taxable amount of ${rate.tax_rate_id}`),
      amount: minor(amount, `tax of ${rate.tax_rate_id}`),
    })),
  };
}
