import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Coupon, couponProblem, discountsOf, shareOverLines } from '../../../shared/domain/discount.ts';
import { invoiceTax, type TaxRate } from '../../../shared/domain/tax.ts';

const RUNS = Number(process.env.PROPERTY_RUNS ?? 300);

const percentOff = (id: string, percent: string): Coupon => ({
  id,
  name: id,
  percent_off: percent,
  amount_off: null,
  currency: null,
});
const amountOff = (id: string, amount: number, currency = 'USD'): Coupon => ({
  id,
  name: id,
  percent_off: null,
  amount_off: amount,
  currency,
});
const amounts = (subtotal: number, coupons: Coupon[]) =>
  discountsOf(subtotal, 'USD', coupons).map((d) => d.amount);

describe('discountsOf: worked examples', () => {
  it('20 % off 100.00 is 20.00; 100 % off is the whole invoice, to the unit', () => {
    expect(amounts(10_000, [percentOff('a', '20')])).toEqual([2000]);
    expect(amounts(12_345, [percentOff('all', '100')])).toEqual([12_345]);
  });

  it('15 % then 10 % off 100.00: 15.00, then 10 % of the 85.00 left, 8.50', () => {
    expect(amounts(10_000, [percentOff('a', '15'), percentOff('b', '10')])).toEqual([1500, 850]);
  });

  it('rounds each discount once, halves away from zero: 50 % of 0.01 is 0.01, 33.3333 % of 0.01 is 0', () => {
    expect(amounts(1, [percentOff('half', '50')])).toEqual([1]);
    expect(amounts(1, [percentOff('third', '33.3333')])).toEqual([0]);
    expect(amounts(250, [percentOff('x', '1')])).toEqual([3]); // 2.5 → 3, not to even
  });

  it('an amount off never takes an invoice below zero; a credit invoice gets no discount', () => {
    expect(amounts(300, [amountOff('five', 500)])).toEqual([300]);
    expect(amounts(300, [amountOff('one-over', 301)])).toEqual([300]);
    expect(amounts(300, [amountOff('exact', 300), amountOff('more', 1)])).toEqual([300, 0]);
    expect(amounts(300, [amountOff('five', 500), percentOff('p', '10')])).toEqual([300, 0]);
    expect(amounts(-500, [percentOff('p', '10'), amountOff('five', 500)])).toEqual([0, 0]);
  });
});

/** The model: the docs' statement, step by step, with the rounding stated as an inequality. */
function isNearestHalfAway(t: bigint, n: bigint, d: bigint): boolean {
  const gap = 2n * (t * d - n);
  const magnitude = gap < 0n ? -gap : gap;
  return magnitude < d || (magnitude === d && t * d > n);
}

const coupon = fc.oneof(
  fc
    .tuple(fc.integer({ min: 0, max: 99 }), fc.integer({ min: 0, max: 9999 }), fc.integer({ min: 0, max: 4 }))
    .map(([whole, digits, places]) =>
      places === 0 ? String(whole) : `${whole}.${String(digits).padStart(4, '0').slice(0, places)}`,
    )
    .filter((p) => Number(p) > 0)
    .map((p) => percentOff(`pct_${p}`, p)),
  fc.constant(percentOff('all', '100')),
  fc.integer({ min: 1, max: 10_000_000 }).map((a) => amountOff(`amt_${a}`, a)),
);
const subtotal = fc.oneof(
  fc.integer({ min: -10_000, max: 100_000 }),
  fc.integer({ min: -1_000_000_000, max: 1_000_000_000_000 }),
);

describe('discountsOf against the model', () => {
  it('each discount is its coupon on what the earlier ones left, rounded once, never past zero', () => {
    fc.assert(
      fc.property(subtotal, fc.array(coupon, { maxLength: 5 }), (s, drawn) => {
        const coupons = drawn.map((c, i) => ({ ...c, id: `${c.id}#${i}` }));
        const got = discountsOf(s, 'USD', coupons);
        let left = BigInt(Math.max(s, 0));
        coupons.forEach((c, i) => {
          const d = BigInt(got[i]!.amount);
          expect(got[i]!.coupon_id).toBe(c.id);
          expect(d >= 0n && d <= left).toBe(true);
          if (c.percent_off !== null) {
            const [whole, decimals = ''] = c.percent_off.split('.');
            const n = left * BigInt(`${whole}${decimals}`);
            expect(isNearestHalfAway(d, n, 100n * 10n ** BigInt(decimals.length))).toBe(true);
          } else {
            expect(d).toBe(BigInt(c.amount_off!) < left ? BigInt(c.amount_off!) : left);
          }
          left -= d;
        });
        const total = got.reduce((sum, d) => sum + d.amount, 0);
        expect(total).toBeLessThanOrEqual(Math.max(0, s));
      }),
      { numRuns: RUNS },
    );
  });

  it('two percent coupons take the same total off in either order, give or take one unit of rounding', () => {
    const percent = coupon.filter((c) => c.percent_off !== null);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1_000_000_000 }), percent, percent, (s, a, drawn) => {
        const b = { ...drawn, id: `${drawn.id}#2` };
        const sum = (cs: Coupon[]) => amounts(s, cs).reduce((x, y) => x + y, 0);
        expect(Math.abs(sum([a, b]) - sum([b, a]))).toBeLessThanOrEqual(1);
      }),
      { numRuns: RUNS },
    );
  });
});

describe('refusals', () => {
  it('names what is wrong with a coupon', () => {
    expect(couponProblem({ percent_off: '10', amount_off: 500, currency: 'USD' })).toMatch(/either/);
    expect(couponProblem({ percent_off: null, amount_off: null, currency: null })).toMatch(/either/);
    for (const bad of ['0', '0.0', '100.5', '101', '-5', '5.', '1e1', '12.34567', '05'])
      expect(couponProblem({ percent_off: bad, amount_off: null, currency: null })).toMatch(/above "0"/);
    for (const bad of [0, -1, 1.5, Number.MAX_SAFE_INTEGER + 1])
      expect(couponProblem({ percent_off: null, amount_off: bad, currency: 'USD' })).toMatch(/whole number/);
    expect(couponProblem({ percent_off: null, amount_off: 500, currency: null })).toMatch(/currency/);
    expect(couponProblem({ percent_off: '0.0001', amount_off: null, currency: null })).toBeUndefined();
  });

  it('refuses what would be read wrong: omitted fields, a percent with a currency, an unknown currency', () => {
    expect(couponProblem({ percent_off: '10' } as Coupon)).toBeUndefined();
    expect(couponProblem({ amount_off: 500 } as Coupon)).toMatch(/needs the currency/);
    expect(couponProblem({} as Coupon)).toMatch(/either/);
    expect(couponProblem({ percent_off: 10 as unknown as string, amount_off: null, currency: null })).toMatch(
      /decimal string/,
    );
    expect(couponProblem({ percent_off: '10', amount_off: null, currency: 'USD' })).toMatch(
      /takes no currency/,
    );
    expect(couponProblem({ percent_off: null, amount_off: 500, currency: 'XYZ' })).toMatch(/one of USD/);
  });

  it('refuses one coupon twice on an invoice, and more coupons than the limit', () => {
    expect(() => discountsOf(1000, 'USD', [percentOff('a', '10'), percentOff('a', '10')])).toThrow(
      /Coupon a cannot apply twice/,
    );
    const many = Array.from({ length: 21 }, (_, i) => percentOff(`c${i}`, '1'));
    expect(() => discountsOf(1000, 'USD', many)).toThrow(/at most 20 coupons, not 21/);
  });

  it('near 2^53: exact to the unit', () => {
    const top = Number.MAX_SAFE_INTEGER; // 9007199254740991
    expect(amounts(top, [percentOff('half', '50')])).toEqual([4_503_599_627_370_496]);
    expect(amounts(top, [percentOff('a', '99.9999')])).toEqual([9_007_190_247_541_736]);
  });

  it('refuses an amount off in another currency than the invoice', () => {
    expect(() => discountsOf(1000, 'EUR', [amountOff('five', 500, 'USD')])).toThrow(
      /takes USD off; it cannot apply to an invoice in EUR/,
    );
  });
});

describe('shareOverLines', () => {
  it('shares add up to the discount, none above its line, each its exact share rounded down or up, the largest fractions up', () => {
    fc.assert(
      fc.property(
        fc
          .array(fc.integer({ min: 0, max: 1_000_000_000 }), { minLength: 1, maxLength: 8 })
          .chain((lines) =>
            fc.tuple(fc.constant(lines), fc.integer({ min: 0, max: lines.reduce((s, a) => s + a, 0) })),
          ),
        ([lines, discount]) => {
          const whole = lines.reduce((s, a) => s + a, 0);
          const shares = shareOverLines(discount, lines);
          expect(shares.reduce((s, x) => s + x, 0)).toBe(discount);
          const rests = lines.map((a, i) => {
            const exact = BigInt(discount) * BigInt(a);
            const low = whole === 0 ? 0n : exact / BigInt(whole);
            const share = BigInt(shares[i]!);
            expect(share === low || share === low + 1n).toBe(true);
            expect(shares[i]!).toBeLessThanOrEqual(a);
            return { up: share > low, rest: whole === 0 ? 0n : exact % BigInt(whole) };
          });
          const ups = rests.filter((r) => r.up).map((r) => r.rest);
          expect(rests.filter((r) => !r.up).every((r) => ups.every((up) => r.rest <= up))).toBe(true);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('refuses a credit line and a discount larger than the lines', () => {
    expect(() => shareOverLines(10, [100, -5])).toThrow(/not credits/);
    expect(() => shareOverLines(101, [100])).toThrow(/cannot be shared/);
    expect(shareOverLines(0, [0, 0])).toEqual([0, 0]);
  });
});

describe('a discount meets tax line by line (worked invoices)', () => {
  const tax = (id: string, percentage: string, inclusive = false): TaxRate => ({
    id,
    display_name: id,
    jurisdiction: null,
    percentage,
    inclusive,
  });
  /** The lines after the discounts, each taxed with its own rates. */
  const discounted = (lines: { amount: number; rates: TaxRate[] }[], coupons: Coupon[]) => {
    const amounts = lines.map((l) => l.amount);
    const off = discountsOf(
      amounts.reduce((s, a) => s + a, 0),
      'EUR',
      coupons,
    );
    const shares = off.map((d) => shareOverLines(d.amount, amounts));
    return invoiceTax(
      lines.map((l, i) => ({ ...l, amount: l.amount - shares.reduce((s, share) => s + share[i]!, 0) })),
    );
  };

  it('50 % off lines at 19 % and 7 %: tax 9.50 + 3.50 on what is left', () => {
    const result = discounted(
      [
        { amount: 10_000, rates: [tax('de', '19')] },
        { amount: 10_000, rates: [tax('de-reduced', '7')] },
      ],
      [percentOff('half', '50')],
    );
    expect(result).toMatchObject({ subtotal_excluding_tax: 10_000, tax: 1300, total: 11_300 });
  });

  it('100 % off a 119.00 line holding 19 % VAT leaves nothing to pay, tax included', () => {
    const result = discounted(
      [{ amount: 11_900, rates: [tax('de', '19', true)] }],
      [percentOff('all', '100')],
    );
    expect(result).toMatchObject({ subtotal_excluding_tax: 0, tax: 0, total: 0 });
  });
});
