import { DomainError } from './errors.ts';
import {
  apportion,
  assertMinorUnits,
  CURRENCY_EXPONENTS,
  HUNDRED_PERCENT,
  isPercent,
  percentUnits,
  roundHalfUp,
} from './money.ts';

/**
 * The one discount rule (docs/invoicing.md, "Discounts"). The coupons that apply to an
 * invoice are taken in the order the caller gives (their redemption order), each on what the ones
 * before it left ("compound" stacking, Zuora's default):
 *
 *   remaining_0 = max(0, subtotal), the discounted lines' amounts, summed
 *   percent off p:  d_i = min(remaining_i, round(remaining_i × p / 100))
 *   amount off a:   d_i = min(remaining_i, a)            (a in the invoice's currency)
 *   remaining_i+1 = remaining_i − d_i
 *
 * rounded once each, by `roundHalfUp`. So no discount is ever negative, together they never take the
 * discounted lines below zero, and 100 % off is exactly their sum. Order matters once amount and
 * percent coupons mix (100.00 with 10 % then 10.00 off is 20.00 off; the other way, 19.00); two
 * percent coupons take the same total in either order, give or take one unit (not so for three).
 *
 * A discount meets tax line by line: `shareOverLines` splits it over the discounted lines in
 * proportion to their amounts (largest remainder, so the shares add up to it and none exceeds its
 * line), and each line is then taxed on its amount less its share, with its own rates (as Stripe
 * keeps a discount amount per line). One discount line taxed with one set of rates would be wrong
 * for lines with different or inclusive rates. The amounts are the lines as priced: an inclusive
 * line's amount holds its tax, so 100 % off leaves nothing, tax included. Which lines are
 * discounted (Stripe leaves credit lines out) is the invoice drafting's to say.
 */
export type Coupon = {
  id: string;
  name: string;
  /** Percent, a decimal string above 0 and at most 100 with at most 4 places; or null for amount off. */
  percent_off: string | null;
  /** Minor units of `currency`; or null for percent off. */
  amount_off: number | null;
  /** The currency of `amount_off`; null for percent off. */
  currency: string | null;
};

export type Discount = { coupon_id: string; amount: number };

/** Coupons one invoice can take at most. */
export const MAX_COUPONS_PER_INVOICE = 20;

/** Why `coupon`'s terms are not ones the rule can apply, or undefined when they are. */
export function couponProblem(
  coupon: Pick<Coupon, 'percent_off' | 'amount_off' | 'currency'>,
): string | undefined {
  const { percent_off: percent, amount_off: amount, currency } = coupon;
  if ((percent == null) === (amount == null))
    return 'a coupon takes either percent_off or amount_off, not both';
  if (percent != null) {
    if (!isPercent(percent) || /^0(?:\.0+)?$/.test(percent))
      return 'percent_off must be a decimal string above "0" and at most "100" with at most 4 decimal places and no leading zero, such as "15" or "12.5"';
    if (currency != null)
      return 'a percent_off coupon takes no currency: it applies to an invoice in any currency';
    return undefined;
  }
  if (!Number.isSafeInteger(amount) || (amount as number) <= 0)
    return 'amount_off must be a whole number of minor units above 0 (e.g. 500 for 5.00)';
  if (typeof currency !== 'string' || CURRENCY_EXPONENTS[currency] === undefined)
    return `an amount_off coupon needs the currency of its amount, one of ${Object.keys(CURRENCY_EXPONENTS).join(', ')}`;
  return undefined;
}

/**
 * The discounts `coupons` give, in their order, on lines that add up to `subtotal` minor units
 * before tax, in `currency`. Refuses a coupon whose terms are wrong or whose amount is in another
 * currency.
 */
export function discountsOf(subtotal: number, currency: string, coupons: readonly Coupon[]): Discount[] {
  assertMinorUnits(subtotal, 'subtotal');
  if (coupons.length > MAX_COUPONS_PER_INVOICE)
    throw new DomainError(
      'unprocessable',
      `An invoice can take at most ${MAX_COUPONS_PER_INVOICE} coupons, not ${coupons.length}`,
    );
  const repeated = coupons.find((coupon, i) => coupons.findIndex((other) => other.id === coupon.id) !== i);
  if (repeated)
    throw new DomainError('unprocessable', `Coupon ${repeated.id} cannot apply twice to one invoice`);
  let remaining = BigInt(Math.max(0, subtotal));
  return coupons.map((coupon) => {
    const problem = couponProblem(coupon);
    if (problem) throw new DomainError('unprocessable', `Coupon ${coupon.id}: ${problem}`);
    if (coupon.amount_off != null && coupon.currency !== currency)
      throw new DomainError(
        'unprocessable',
        `Coupon ${coupon.id} takes ${coupon.currency} off; it cannot apply to an invoice in ${currency}`,
      );
    let off: bigint;
    if (coupon.percent_off != null) {
      off = BigInt(roundHalfUp(remaining * percentUnits(coupon.percent_off), HUNDRED_PERCENT));
    } else {
      off = BigInt(coupon.amount_off!);
    }
    if (off > remaining) off = remaining;
    remaining -= off;
    return { coupon_id: coupon.id, amount: Number(off) };
  });
}

/**
 * `discount` shared over lines of `amounts` (none negative, together at least the discount) in
 * proportion: each line gets its exact share discount × amount / Σ amounts rounded down, and the
 * units left over go one each to the lines with the largest fractions (ties to the earlier line).
 * The shares add up to the discount exactly, and none is more than its line.
 */
export function shareOverLines(discount: number, amounts: readonly number[]): number[] {
  assertMinorUnits(discount, 'discount');
  for (const amount of amounts) {
    assertMinorUnits(amount, 'line amount');
    if (amount < 0) throw new RangeError('A discount is shared over lines that are not credits');
  }
  const whole = amounts.reduce((sum, amount) => sum + BigInt(amount), 0n);
  if (discount < 0 || BigInt(discount) > whole)
    throw new RangeError(`A discount of ${discount} cannot be shared over lines of ${whole} in all`);
  if (whole === 0n) return amounts.map(() => 0);
  return apportion(
    BigInt(discount),
    amounts.map((amount) => BigInt(discount) * BigInt(amount)),
    whole,
  ).map(Number);
}
