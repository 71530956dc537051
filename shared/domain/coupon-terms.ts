/**
 * How long a coupon lasts and who may still redeem it (issue 15, "Discounts"; not on invoices yet),
 * with Stripe's meanings:
 *
 *   duration once:       the discount applies to one billing period, the first it meets;
 *   duration repeating:  to the first `duration_in_periods` billing periods;
 *   duration forever:    to every period, for as long as the redemption stands.
 *
 * A redemption counts the periods it has discounted (a period counts once its invoice took the
 * discount); `discountApplies` reads that count. `max_redemptions` caps how many customers or
 * subscriptions may redeem the coupon in all, and `redeem_by` is the moment after which nobody may:
 * both are checked when a coupon is redeemed, never later, so a redemption made in time keeps its
 * whole duration.
 */
export type CouponDuration = 'once' | 'repeating' | 'forever';

export type CouponTerms = {
  duration: CouponDuration;
  /** repeating only: how many billing periods, 1 to MAX_DURATION_IN_PERIODS; null otherwise. */
  duration_in_periods: number | null;
  /** At most this many redemptions in all; null for no limit. */
  max_redemptions: number | null;
  /** ISO 8601 moment after which the coupon cannot be redeemed; null for never. */
  redeem_by: string | null;
};

/** Ten years of monthly periods. */
export const MAX_DURATION_IN_PERIODS = 120;

/** Each field whose terms are wrong, with what to send instead (empty when the terms are right). */
export function couponTermsProblems(terms: CouponTerms, now: Date): { field: string; message: string }[] {
  const problems: { field: string; message: string }[] = [];
  const periods = terms.duration_in_periods;
  if (terms.duration === 'repeating') {
    if (
      !Number.isInteger(periods) ||
      (periods as number) < 1 ||
      (periods as number) > MAX_DURATION_IN_PERIODS
    )
      problems.push({
        field: 'duration_in_periods',
        message: `a repeating coupon needs a whole number of billing periods from 1 to ${MAX_DURATION_IN_PERIODS}`,
      });
  } else if (periods != null) {
    problems.push({
      field: 'duration_in_periods',
      message: `only a repeating coupon takes duration_in_periods; a ${terms.duration} coupon lasts ${terms.duration === 'once' ? 'one period' : 'every period'}`,
    });
  }
  const max = terms.max_redemptions;
  if (max != null && (!Number.isSafeInteger(max) || max < 1))
    problems.push({
      field: 'max_redemptions',
      message: 'must be a whole number of at least 1, or null for no limit',
    });
  if (terms.redeem_by != null) {
    const by = Date.parse(terms.redeem_by);
    if (Number.isNaN(by))
      problems.push({
        field: 'redeem_by',
        message: 'must be an ISO 8601 date-time such as 2027-01-31T23:59:59Z',
      });
    else if (by <= now.getTime())
      problems.push({ field: 'redeem_by', message: 'must be in the future: nobody could redeem the coupon' });
  }
  return problems;
}

/**
 * Why the coupon cannot be redeemed at `at` after `timesRedeemed` redemptions, or undefined when it
 * can. `redeem_by` is inclusive: a redemption at that very moment is in time.
 */
export function redemptionProblem(terms: CouponTerms, timesRedeemed: number, at: Date): string | undefined {
  if (terms.redeem_by != null && at.getTime() > Date.parse(terms.redeem_by))
    return `the coupon could be redeemed until ${terms.redeem_by}`;
  if (terms.max_redemptions != null && timesRedeemed >= terms.max_redemptions)
    return `the coupon has been redeemed ${timesRedeemed} times, its limit`;
  return undefined;
}

/** Whether a redemption that has discounted `periodsDiscounted` periods discounts the next one too. */
export function discountApplies(terms: CouponTerms, periodsDiscounted: number): boolean {
  if (!Number.isSafeInteger(periodsDiscounted) || periodsDiscounted < 0)
    throw new RangeError(`periodsDiscounted must be a whole number, got ${periodsDiscounted}`);
  switch (terms.duration) {
    case 'once':
      return periodsDiscounted < 1;
    case 'repeating':
      return periodsDiscounted < (terms.duration_in_periods ?? 0);
    case 'forever':
      return true;
  }
}
