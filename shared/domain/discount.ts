import { DomainError } from './errors.ts';
import { assertMinorUnits, parseDecimal, pow10, roundHalfUp } from './money.ts';

/**
 * The one discount rule (issue 15, "Discounts"; not on invoices yet). The coupons that apply to an
 * invoice are taken in order, each on what the ones before it left:
 *
 *   remaining_0 = max(0, the invoice's lines before tax, summed)
 *   percent off p:  d_i = min(remaining_i, round(remaining_i × p / 100))
 *   amount off a:   d_i = min(remaining_i, a)            (a in the invoice's currency)
 *   remaining_i+1 = remaining_i − d_i
 *
 * rounded once each, by `roundHalfUp`. So no discount is ever negative, together they never take the
 * invoice below zero (an invoice that is a credit already gets none), 100 % off is exactly the
 * invoice, and two percent coupons take the same total off in either order, give or take one unit
 * of rounding. Each discount becomes its own invoice line, a negative amount; the tax rule then
 * taxes it like any line (shared/domain/tax.ts), so tax is owed on what is left.
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

const PERCENT_OFF = /^(?:100(?:\.0{1,4})?|[1-9]?\d(?:\.\d{1,4})?)$/;

/** Why `coupon`'s terms are not ones the rule can apply, or undefined when they are. */
export function couponProblem(
  coupon: Pick<Coupon, 'percent_off' | 'amount_off' | 'currency'>,
): string | undefined {
  const { percent_off: percent, amount_off: amount } = coupon;
  if ((percent === null) === (amount === null))
    return 'a coupon takes either percent_off or amount_off, not both';
  if (percent !== null) {
    if (typeof percent !== 'string' || !PERCENT_OFF.test(percent) || /^0+(?:\.0+)?$/.test(percent))
      return 'percent_off must be a decimal string above "0" and at most "100" with at most 4 decimal places, such as "15" or "12.5"';
    return undefined;
  }
  if (!Number.isSafeInteger(amount) || (amount as number) <= 0)
    return 'amount_off must be a whole number of minor units above 0 (e.g. 500 for 5.00)';
  if (coupon.currency === null) return 'an amount_off coupon needs the currency of its amount';
  return undefined;
}

/**
 * The discounts `coupons` give, in their order, on lines that add up to `subtotal` minor units
 * before tax, in `currency`. Refuses a coupon whose terms are wrong or whose amount is in another
 * currency.
 */
export function discountsOf(subtotal: number, currency: string, coupons: readonly Coupon[]): Discount[] {
  assertMinorUnits(subtotal, 'subtotal');
  let remaining = BigInt(Math.max(0, subtotal));
  return coupons.map((coupon) => {
    const problem = couponProblem(coupon);
    if (problem) throw new DomainError('unprocessable', `Coupon ${coupon.id}: ${problem}`);
    if (coupon.amount_off !== null && coupon.currency !== currency)
      throw new DomainError(
        'unprocessable',
        `Coupon ${coupon.id} takes ${coupon.currency} off; it cannot apply to an invoice in ${currency}`,
      );
    let off: bigint;
    if (coupon.percent_off !== null) {
      const { units, scale } = parseDecimal(coupon.percent_off);
      off = BigInt(roundHalfUp(remaining * units, 100n * pow10(scale)));
    } else {
      off = BigInt(coupon.amount_off!);
    }
    if (off > remaining) off = remaining;
    remaining -= off;
    return { coupon_id: coupon.id, amount: Number(off) };
  });
}
