import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type CouponTerms,
  couponTermsProblems,
  discountApplies,
  MAX_DURATION_IN_PERIODS,
  redemptionProblem,
} from '../../../shared/domain/coupon-terms.ts';

const RUNS = Number(process.env.PROPERTY_RUNS ?? 300);
const NOW = new Date('2026-12-01T00:00:00Z');

const terms = (overrides: Partial<CouponTerms>): CouponTerms => ({
  duration: 'forever',
  duration_in_periods: null,
  max_redemptions: null,
  redeem_by: null,
  ...overrides,
});

describe('discountApplies', () => {
  it('once: the first period only; repeating 3: three periods; forever: every one', () => {
    const periods = [0, 1, 2, 3, 4, 100];
    expect(periods.map((p) => discountApplies(terms({ duration: 'once' }), p))).toEqual([
      true,
      false,
      false,
      false,
      false,
      false,
    ]);
    expect(
      periods.map((p) => discountApplies(terms({ duration: 'repeating', duration_in_periods: 3 }), p)),
    ).toEqual([true, true, true, false, false, false]);
    expect(periods.map((p) => discountApplies(terms({ duration: 'forever' }), p))).toEqual(
      periods.map(() => true),
    );
  });

  it('a redemption discounts exactly as many periods as its duration says (model: count the periods a subscription life gets)', () => {
    const duration = fc.oneof(
      fc.constant<Partial<CouponTerms>>({ duration: 'once' }),
      fc
        .integer({ min: 1, max: MAX_DURATION_IN_PERIODS })
        .map((n): Partial<CouponTerms> => ({ duration: 'repeating', duration_in_periods: n })),
      fc.constant<Partial<CouponTerms>>({ duration: 'forever' }),
    );
    fc.assert(
      fc.property(duration, fc.integer({ min: 0, max: 300 }), (d, life) => {
        const t = terms(d);
        let discounted = 0;
        for (let period = 0; period < life; period++) if (discountApplies(t, discounted)) discounted++;
        const promised =
          t.duration === 'once' ? 1 : t.duration === 'repeating' ? t.duration_in_periods! : life;
        expect(discounted).toBe(Math.min(life, promised));
      }),
      { numRuns: RUNS },
    );
  });

  it('refuses a count that is not a whole number', () => {
    expect(() => discountApplies(terms({}), -1)).toThrow(/whole number/);
    expect(() => discountApplies(terms({}), 1.5)).toThrow(/whole number/);
  });
});

describe('redemptionProblem', () => {
  it('redeem_by is inclusive; after it, nobody may redeem', () => {
    const t = terms({ redeem_by: '2026-12-31T23:59:59Z' });
    expect(redemptionProblem(t, 0, new Date('2026-12-31T23:59:59Z'))).toBeUndefined();
    expect(redemptionProblem(t, 0, new Date('2027-01-01T00:00:00Z'))).toMatch(/until 2026-12-31T23:59:59Z/);
  });

  it('max_redemptions: the n-th redemption is allowed, the one after it is not', () => {
    const t = terms({ max_redemptions: 3 });
    expect([0, 1, 2, 3, 4].map((n) => redemptionProblem(t, n, NOW) === undefined)).toEqual([
      true,
      true,
      true,
      false,
      false,
    ]);
    expect(redemptionProblem(t, 3, NOW)).toMatch(/redeemed 3 times, its limit/);
    expect(redemptionProblem(terms({}), 1_000_000, NOW)).toBeUndefined();
  });
});

describe('couponTermsProblems', () => {
  it('names each wrong field and what to send', () => {
    expect(couponTermsProblems(terms({ duration: 'repeating' }), NOW).map((p) => p.field)).toEqual([
      'duration_in_periods',
    ]);
    expect(
      couponTermsProblems(
        terms({ duration: 'repeating', duration_in_periods: MAX_DURATION_IN_PERIODS + 1 }),
        NOW,
      )[0]?.message,
    ).toMatch(/from 1 to 120/);
    expect(couponTermsProblems(terms({ duration: 'once', duration_in_periods: 2 }), NOW)[0]?.message).toMatch(
      /only a repeating coupon/,
    );
    expect(
      couponTermsProblems(terms({ max_redemptions: 0, redeem_by: 'next week' }), NOW).map((p) => p.field),
    ).toEqual(['max_redemptions', 'redeem_by']);
    expect(couponTermsProblems(terms({ redeem_by: '2026-11-30T00:00:00Z' }), NOW)[0]?.message).toMatch(
      /future/,
    );
    expect(
      couponTermsProblems(
        terms({
          duration: 'repeating',
          duration_in_periods: 12,
          max_redemptions: 100,
          redeem_by: '2027-06-30T00:00:00Z',
        }),
        NOW,
      ),
    ).toEqual([]);
  });
});
