import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type CouponTerms,
  couponTermsProblems,
  discountApplies,
  MAX_DURATION_IN_PERIODS,
  parseMoment,
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
  it('once: one period; repeating 3: three periods; forever: every one', () => {
    const periodsOf = (t: CouponTerms, count: number) => {
      const discounted = new Set<string>();
      for (let p = 0; p < count; p++) if (discountApplies(t, discounted, `p${p}`)) discounted.add(`p${p}`);
      return discounted.size;
    };
    expect(periodsOf(terms({ duration: 'once' }), 6)).toBe(1);
    expect(periodsOf(terms({ duration: 'repeating', duration_in_periods: 1 }), 6)).toBe(1);
    expect(periodsOf(terms({ duration: 'repeating', duration_in_periods: 3 }), 6)).toBe(3);
    expect(periodsOf(terms({ duration: 'repeating', duration_in_periods: 120 }), 200)).toBe(120);
    expect(periodsOf(terms({ duration: 'forever' }), 6)).toBe(6);
  });

  it('every invoice of a discounted period gets it: a proration invoice and the close of one period use one', () => {
    const once = terms({ duration: 'once' });
    const discounted = new Set<string>(['2027-01']);
    expect(discountApplies(once, discounted, '2027-01')).toBe(true); // the close, after the proration invoice
    expect(discountApplies(once, discounted, '2027-02')).toBe(false);
  });

  it('model: over a life of periods, each with 0 to 3 invoices, some with nothing to discount and some voided, a redemption discounts exactly the periods its duration promises', () => {
    const duration = fc.oneof(
      fc.constant<Partial<CouponTerms>>({ duration: 'once' }),
      fc
        .integer({ min: 1, max: 12 })
        .map((n): Partial<CouponTerms> => ({ duration: 'repeating', duration_in_periods: n })),
      fc.constant<Partial<CouponTerms>>({ duration: 'forever' }),
    );
    // Each period: its invoices, each one discountable or not and voided or not.
    const invoice = fc.record({ discountable: fc.boolean(), voided: fc.boolean() });
    const life = fc.array(fc.array(invoice, { maxLength: 3 }), { maxLength: 30 });
    fc.assert(
      fc.property(duration, life, (d, periods) => {
        const t = terms(d);
        // The caller's duties, as the rule's doc states them.
        const discounted = new Set<string>();
        const took = new Map<string, number>(); // live (not voided) invoices of a period that took it
        const gotDiscount: boolean[] = [];
        periods.forEach((invoices, p) => {
          const id = `period-${p}`;
          for (const inv of invoices) {
            if (!inv.discountable || !discountApplies(t, discounted, id)) continue;
            if (!inv.voided) took.set(id, (took.get(id) ?? 0) + 1);
          }
          if ((took.get(id) ?? 0) > 0) discounted.add(id);
          gotDiscount.push((took.get(id) ?? 0) > 0);
        });
        // The model: the first N periods that had a live discountable invoice, N from the duration.
        const limit =
          t.duration === 'once' ? 1 : t.duration === 'repeating' ? t.duration_in_periods! : Infinity;
        let counted = 0;
        const expected = periods.map((invoices) => {
          const eligible = invoices.some((inv) => inv.discountable && !inv.voided);
          if (eligible && counted < limit) {
            counted++;
            return true;
          }
          return false;
        });
        expect(gotDiscount).toEqual(expected);
      }),
      { numRuns: RUNS },
    );
  });

  it('refuses terms it cannot read instead of guessing', () => {
    expect(() =>
      discountApplies(terms({ duration: 'repeating', duration_in_periods: 1.5 }), new Set(), 'p'),
    ).toThrow(/whole number of periods/);
    expect(() => discountApplies(terms({ duration: 'Once' as never }), new Set(), 'p')).toThrow(
      /Unknown coupon duration/,
    );
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
    expect(redemptionProblem(t, 7, NOW)).toMatch(/redeemed 7 times; its limit is 3/);
    expect(redemptionProblem(terms({ max_redemptions: 1 }), 1, NOW)).toMatch(/its limit is 1/);
    expect(redemptionProblem(terms({}), 1_000_000, NOW)).toBeUndefined();
  });

  it('fails closed on what it cannot read', () => {
    expect(redemptionProblem(terms({ redeem_by: 'soon' }), 0, NOW)).toMatch(/cannot be read/);
    expect(redemptionProblem(terms({ max_redemptions: 1.5 }), 0, NOW)).toMatch(/cannot be read/);
    expect(() => redemptionProblem(terms({}), Number.NaN, NOW)).toThrow(/whole number/);
  });
});

describe('couponTermsProblems', () => {
  it('names each wrong field and what to send', () => {
    const fields = (t: Partial<CouponTerms>) => couponTermsProblems(terms(t), NOW).map((p) => p.field);
    expect(fields({ duration: 'repeating' })).toEqual(['duration_in_periods']);
    for (const bad of [0, 1.5, MAX_DURATION_IN_PERIODS + 1])
      expect(
        couponTermsProblems(terms({ duration: 'repeating', duration_in_periods: bad }), NOW)[0]?.message,
      ).toMatch(/from 1 to 120/);
    expect(fields({ duration: 'repeating', duration_in_periods: 1 })).toEqual([]);
    expect(fields({ duration: 'repeating', duration_in_periods: 120 })).toEqual([]);
    expect(couponTermsProblems(terms({ duration: 'once', duration_in_periods: 2 }), NOW)[0]?.message).toMatch(
      /only a repeating coupon/,
    );
    expect(fields({ duration: 'forever', duration_in_periods: 2 })).toEqual(['duration_in_periods']);
    expect(couponTermsProblems(terms({ duration: 'Once' as never }), NOW)[0]).toEqual({
      field: 'duration',
      message: 'must be one of once, repeating, forever',
    });
    for (const bad of [0, -1, 1.5]) expect(fields({ max_redemptions: bad })).toEqual(['max_redemptions']);
    expect(fields({ max_redemptions: 1 })).toEqual([]);
    expect(couponTermsProblems(terms({ redeem_by: NOW.toISOString() }), NOW)[0]?.message).toMatch(/future/);
    expect(couponTermsProblems(terms({ redeem_by: '2040-01-01T00:00:00Z' }), NOW)[0]?.message).toMatch(
      /10 years/,
    );
    expect(
      fields({
        duration: 'repeating',
        duration_in_periods: 12,
        max_redemptions: 100,
        redeem_by: '2027-06-30T00:00:00Z',
      }),
    ).toEqual([]);
  });

  it('takes redeem_by only as an ISO 8601 date-time with its zone, on a date that exists', () => {
    for (const bad of [
      '1',
      'foo 2027',
      'Jan 2027',
      '2030',
      '2027-01-01',
      '2027-01-01 10:00',
      '2027-02-30T00:00:00Z',
    ])
      expect(parseMoment(bad)).toBeUndefined();
    expect(parseMoment('2027-01-31T23:59:59+01:00')?.toISOString()).toBe('2027-01-31T22:59:59.000Z');
    expect(parseMoment('2028-02-29T12:00:00.5Z')?.toISOString()).toBe('2028-02-29T12:00:00.500Z');
  });
});
