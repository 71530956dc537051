/**
 * How long a coupon lasts and who may still redeem it (docs/invoicing.md, "Discounts").
 * Durations count billing periods of the subscription (Stripe counts months for `repeating`; here a
 * yearly plan's repeating 2 is two years):
 *
 *   once:       the discount applies to one billing period, the first it meets;
 *   repeating:  to the first `duration_in_periods` billing periods;
 *   forever:    to every period, for as long as the redemption stands.
 *
 * The caller keeps, per redemption, the billing periods it has discounted (their ids), and adds a
 * period when an invoice of that period took a discount above zero from it. So a period with several
 * invoices (a plan change's proration invoice, then the close) is one period, and every invoice of a
 * discounted period gets the discount; a period that had nothing to discount (a trial, an empty
 * invoice) uses none of the duration; and a voided invoice gives its period back when the caller
 * removes the period (no other invoice of it having taken the discount).
 *
 * `max_redemptions` caps how many customers or subscriptions may redeem the coupon in all, and
 * `redeem_by` is the moment after which nobody may (inclusive: a redemption at that instant is in
 * time). Both are checked when a coupon is redeemed, never later, so a redemption made in time keeps
 * its whole duration; the store must check the count and add the redemption in one conditional
 * write, or two concurrent redemptions could both take the last one.
 */
export type CouponDuration = 'once' | 'repeating' | 'forever';

export type CouponTerms = {
  duration: CouponDuration;
  /** repeating only: how many billing periods, 1 to MAX_DURATION_IN_PERIODS; null otherwise. */
  duration_in_periods: number | null;
  /** At most this many redemptions in all; null for no limit. */
  max_redemptions: number | null;
  /** A moment (ISO 8601 with time and zone) after which the coupon cannot be redeemed; null for never. */
  redeem_by: string | null;
};

export const COUPON_DURATIONS: readonly CouponDuration[] = ['once', 'repeating', 'forever'];

/** 120 billing periods: ten years of monthly ones. */
export const MAX_DURATION_IN_PERIODS = 120;

/** How far ahead redeem_by may be. */
const MAX_REDEEM_BY_YEARS = 10;

const MOMENT = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d{1,3})?(?:Z|[+-]\d{2}:\d{2})$/;

/** The moment `text` names, or undefined unless it is an ISO 8601 date-time with a zone that exists. */
export function parseMoment(text: unknown): Date | undefined {
  if (typeof text !== 'string') return undefined;
  const match = MOMENT.exec(text);
  if (!match) return undefined;
  const at = new Date(text);
  if (Number.isNaN(at.getTime())) return undefined;
  // 2027-02-30 would roll over to March: the calendar date must exist as written.
  const [, year, month, day] = match.map(Number);
  const written = new Date(Date.UTC(year!, month! - 1, day!));
  if (written.getUTCMonth() !== month! - 1 || written.getUTCDate() !== day!) return undefined;
  return at;
}

/** Each field whose terms are wrong, with what to send instead (empty when the terms are right). */
export function couponTermsProblems(terms: CouponTerms, now: Date): { field: string; message: string }[] {
  const problems: { field: string; message: string }[] = [];
  const periods = terms.duration_in_periods;
  if (!COUPON_DURATIONS.includes(terms.duration)) {
    problems.push({ field: 'duration', message: `must be one of ${COUPON_DURATIONS.join(', ')}` });
  } else if (terms.duration === 'repeating') {
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
    const by = parseMoment(terms.redeem_by);
    const latest = new Date(now);
    latest.setUTCFullYear(latest.getUTCFullYear() + MAX_REDEEM_BY_YEARS);
    if (!by)
      problems.push({
        field: 'redeem_by',
        message: 'must be an ISO 8601 date-time with its zone, such as 2027-01-31T23:59:59Z',
      });
    else if (by.getTime() <= now.getTime())
      problems.push({ field: 'redeem_by', message: 'must be in the future: nobody could redeem the coupon' });
    else if (by.getTime() > latest.getTime())
      problems.push({ field: 'redeem_by', message: `must be within ${MAX_REDEEM_BY_YEARS} years` });
  }
  return problems;
}

/**
 * Why the coupon cannot be redeemed at `at` after `timesRedeemed` redemptions, or undefined when it
 * can. Terms that cannot be read refuse the redemption rather than let it through.
 */
export function redemptionProblem(terms: CouponTerms, timesRedeemed: number, at: Date): string | undefined {
  if (!Number.isSafeInteger(timesRedeemed) || timesRedeemed < 0)
    throw new RangeError(`timesRedeemed must be a whole number, got ${timesRedeemed}`);
  if (terms.redeem_by != null) {
    const by = parseMoment(terms.redeem_by);
    if (!by) return `the coupon's redeem_by (${JSON.stringify(terms.redeem_by)}) cannot be read`;
    if (at.getTime() > by.getTime()) return `the coupon could be redeemed until ${terms.redeem_by}`;
  }
  if (terms.max_redemptions != null) {
    if (!Number.isSafeInteger(terms.max_redemptions) || terms.max_redemptions < 1)
      return `the coupon's max_redemptions (${terms.max_redemptions}) cannot be read`;
    if (timesRedeemed >= terms.max_redemptions)
      return `the coupon has been redeemed ${timesRedeemed} times; its limit is ${terms.max_redemptions}`;
  }
  return undefined;
}

/**
 * Whether a redemption that has discounted the periods `discounted` (their ids) discounts an invoice
 * of `period`: always when `period` is one of them, otherwise when the duration has periods left.
 * Throws on terms `couponTermsProblems` would refuse.
 */
export function discountApplies(
  terms: CouponTerms,
  discounted: ReadonlySet<string>,
  period: string,
): boolean {
  if (discounted.has(period)) return true;
  switch (terms.duration) {
    case 'once':
      return discounted.size < 1;
    case 'repeating': {
      const periods = terms.duration_in_periods;
      if (!Number.isInteger(periods) || (periods as number) < 1)
        throw new RangeError(`A repeating coupon needs a whole number of periods, got ${periods}`);
      return discounted.size < (periods as number);
    }
    case 'forever':
      return true;
    default:
      throw new RangeError(`Unknown coupon duration ${JSON.stringify(terms.duration)}`);
  }
}
