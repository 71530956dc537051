import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DomainError } from '../../../shared/domain/errors.ts';
import { invoiceTax, percentageProblem, type TaxRate, taxesOfLine } from '../../../shared/domain/tax.ts';

const RUNS = Number(process.env.PROPERTY_RUNS ?? 300);

const rate = (id: string, percentage: string, inclusive = false): TaxRate => ({
  id,
  display_name: id,
  jurisdiction: null,
  percentage,
  inclusive,
});

describe('taxesOfLine: published examples', () => {
  it('Quebec: 100.00 CAD with GST 5 % and QST 9.975 %, both on top, is 5.00 + 9.98 (114.98 in all)', () => {
    const taxes = taxesOfLine(10_000, [rate('gst', '5'), rate('qst', '9.975')]);
    expect(taxes.map((t) => t.amount)).toEqual([500, 998]);
    expect(invoiceTax([{ amount: 10_000, rates: [rate('gst', '5'), rate('qst', '9.975')] }])).toMatchObject({
      subtotal_excluding_tax: 10_000,
      tax: 1498,
      total: 11_498,
    });
  });

  it("Zuora's inclusive example, rounding the tax: 2.99 holding 4 % VAT is 0.12 of tax on 2.87", () => {
    const [vat] = taxesOfLine(299, [rate('vat', '4', true)]);
    expect(vat).toMatchObject({ amount: 12, taxable_amount: 287, inclusive: true });
  });

  it('New York City sales tax 8.875 % on 10.00 is 0.89 (0.8875 rounded half up)', () => {
    expect(taxesOfLine(1000, [rate('nyc', '8.875')])[0]!.amount).toBe(89);
  });

  it('German VAT 19 % included in 119.00 is exactly 19.00 on 100.00', () => {
    expect(taxesOfLine(11_900, [rate('de', '19', true)])[0]).toMatchObject({
      amount: 1900,
      taxable_amount: 10_000,
    });
  });

  it('5 % of 0.50 is 0.03: a half rounds away from zero, not to even', () => {
    expect(taxesOfLine(50, [rate('five', '5')])[0]!.amount).toBe(3);
    expect(taxesOfLine(-50, [rate('five', '5')])[0]!.amount).toBe(-3);
  });

  it('no rates, no tax; a zero-rated line has a tax of 0', () => {
    expect(taxesOfLine(12_345, [])).toEqual([]);
    expect(taxesOfLine(12_345, [rate('zero', '0')])[0]).toMatchObject({ amount: 0, taxable_amount: 12_345 });
  });
});

// ---- the independent model ------------------------------------------------------------------

/** A percentage as an exact fraction, read digit by digit from its text (not with the rule's parser). */
function fraction(percentage: string): { num: bigint; den: bigint } {
  const [whole, decimals = ''] = percentage.split('.');
  return { num: BigInt(`${whole}${decimals}`), den: 10n ** BigInt(decimals.length) };
}

/**
 * Whether `t` is what the docs call "the exact tax rounded to the nearest minor unit, halves away
 * from zero" for the exact value n/d (d > 0): no integer is nearer, and on a tie t is the one
 * farther from zero. Stated as inequalities, not computed the rule's way.
 */
function isNearestHalfAway(t: number, n: bigint, d: bigint): boolean {
  const gap = 2n * (BigInt(t) * d - n); // 2·(t − n/d)·d
  const magnitude = gap < 0n ? -gap : gap;
  if (magnitude > d) return false;
  if (magnitude < d) return true;
  const absT = t < 0 ? -BigInt(t) : BigInt(t);
  const absN = n < 0n ? -n : n;
  return absT * d > absN;
}

const percentage = fc.oneof(
  fc.integer({ min: 0, max: 100 }).map(String),
  fc
    .tuple(fc.integer({ min: 0, max: 99 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 0, max: 9999 }))
    .map(([whole, places, digits]) => `${whole}.${String(digits).padStart(4, '0').slice(0, places)}`),
);
const amount = fc.oneof(
  fc.integer({ min: -100_000, max: 100_000 }),
  fc.integer({ min: -1_000_000_000_000, max: 1_000_000_000_000 }),
);
const rates = (inclusive: boolean) =>
  fc
    .array(percentage, { minLength: 1, maxLength: 4 })
    .map((ps) => ps.map((p, i) => rate(`txr_${i}`, p, inclusive)));

describe('taxesOfLine against the model', () => {
  it('exclusive: each rate is the line amount × p / 100, rounded to the nearest unit, halves away from zero', () => {
    fc.assert(
      fc.property(amount, rates(false), (a, rs) => {
        const taxes = taxesOfLine(a, rs);
        rs.forEach((r, i) => {
          const { num, den } = fraction(r.percentage);
          expect(isNearestHalfAway(taxes[i]!.amount, BigInt(a) * num, 100n * den)).toBe(true);
          expect(taxes[i]!.taxable_amount).toBe(a);
        });
      }),
      { numRuns: RUNS },
    );
  });

  it('inclusive: the line tax is amount × Σp / (100 + Σp) rounded once, split by largest remainder, never above the amount', () => {
    fc.assert(
      fc.property(amount, rates(true), (a, rs) => {
        const taxes = taxesOfLine(a, rs);
        // Σ p over a common denominator (the product of the rates' own), from the digits.
        const parts = rs.map((r) => fraction(r.percentage));
        const common = parts.reduce((den, p) => den * p.den, 1n);
        const scaled = parts.map((p) => p.num * (common / p.den));
        const sum = scaled.reduce((s, p) => s + p, 0n);
        const den = 100n * common + sum;
        const taxed = taxes.reduce((s, t) => s + t.amount, 0);
        expect(isNearestHalfAway(taxed, BigInt(a) * sum, den)).toBe(true);
        // Each share is its exact value rounded down or up (on the magnitude), and no share rounded
        // down had a larger fraction than one rounded up.
        const m = BigInt(Math.abs(a));
        const shares = scaled.map((p, i) => {
          const exact = m * p;
          const got = BigInt(Math.abs(taxes[i]!.amount)) * den;
          expect(got >= exact - (exact % den) && got <= exact - (exact % den) + den).toBe(true);
          return { up: got > exact - (exact % den), rest: exact % den };
        });
        const ups = shares.filter((x) => x.up).map((x) => x.rest);
        const downs = shares.filter((x) => !x.up).map((x) => x.rest);
        expect(downs.every((down) => ups.every((up) => down <= up))).toBe(true);
        expect(taxes.every((t) => t.taxable_amount + taxed === a)).toBe(true);
        expect(Math.abs(taxed)).toBeLessThanOrEqual(Math.abs(a));
        expect(taxes.every((t) => Math.sign(t.amount) * Math.sign(a) >= 0)).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });

  it('inclusive, where rounding rate by rate would tax more than the price: 0.02 holding three 100 % rates', () => {
    const taxes = taxesOfLine(2, [rate('a', '100', true), rate('b', '100', true), rate('c', '100', true)]);
    expect(taxes.map((t) => t.amount)).toEqual([1, 1, 0]); // 1.5 units of tax, rounded once to 2, split in order
    expect(taxes[0]!.taxable_amount).toBe(0);
  });

  it('a credit line gets exactly the negative of the tax of the same charge', () => {
    fc.assert(
      fc.property(amount, fc.boolean(), fc.boolean(), (a, inclusive, twoRates) => {
        const rs = twoRates
          ? [rate('a', '7.5', inclusive), rate('b', '12.345', inclusive)]
          : [rate('a', '20', inclusive)];
        const charge = taxesOfLine(a, rs);
        const credit = taxesOfLine(-a, rs);
        expect(credit.map((t) => t.amount)).toEqual(charge.map((t) => (t.amount === 0 ? 0 : -t.amount)));
        expect(credit.map((t) => t.taxable_amount)).toEqual(
          charge.map((t) => (t.taxable_amount === 0 ? 0 : -t.taxable_amount)),
        );
      }),
      { numRuns: RUNS },
    );
  });
});

describe('invoiceTax', () => {
  it('a worked invoice mixing exclusive, inclusive and untaxed lines, and a credit', () => {
    const gst = rate('gst', '5');
    const qst = rate('qst', '9.975');
    const vat = rate('vat', '19', true);
    const result = invoiceTax([
      { amount: 10_000, rates: [gst, qst] }, // + 5.00 + 9.98
      { amount: -2_000, rates: [gst, qst] }, // credit: − 1.00 − 2.00 (1.995 → 2.00)
      { amount: 11_900, rates: [vat] }, // holds 19.00, 100.00 before tax
      { amount: 500, rates: [] }, // untaxed
    ]);
    expect(result.lines.map((taxes) => taxes.map((t) => t.amount))).toEqual([
      [500, 998],
      [-100, -200],
      [1900],
      [],
    ]);
    expect(result.by_rate).toEqual([
      { tax_rate_id: 'gst', percentage: '5', inclusive: false, taxable_amount: 8_000, amount: 400 },
      { tax_rate_id: 'qst', percentage: '9.975', inclusive: false, taxable_amount: 8_000, amount: 798 },
      { tax_rate_id: 'vat', percentage: '19', inclusive: true, taxable_amount: 10_000, amount: 1900 },
    ]);
    // Before tax: 100.00 − 20.00 + 100.00 + 5.00; tax 4.00 + 7.98 + 19.00; paid 80.00 + 11.98 + 119.00 + 5.00.
    expect(result).toMatchObject({ subtotal_excluding_tax: 18_500, tax: 3_098, total: 21_598 });
  });

  it('keeps a rate whose percentage changed, or that is inclusive on one line and not another, apart', () => {
    const result = invoiceTax([
      { amount: 1000, rates: [rate('txr', '10')] },
      { amount: 1000, rates: [rate('txr', '12')] },
      { amount: 1100, rates: [rate('txr', '10', true)] },
    ]);
    expect(result.by_rate.map((r) => [r.percentage, r.inclusive, r.taxable_amount, r.amount])).toEqual([
      ['10', false, 1000, 100],
      ['12', false, 1000, 120],
      ['10', true, 1000, 100],
    ]);
  });

  it('refuses totals that minor units cannot hold exactly, instead of rounding them', () => {
    const big = Number.MAX_SAFE_INTEGER;
    expect(() =>
      invoiceTax([
        { amount: big, rates: [] },
        { amount: 2, rates: [] },
      ]),
    ).toThrow(/beyond/);
    expect(() => invoiceTax([{ amount: big - 100, rates: [rate('a', '1')] }])).toThrow(/beyond/);
  });
});

describe('refusals', () => {
  it('refuses mixing inclusive and exclusive rates on one line, and one rate twice', () => {
    expect(() => taxesOfLine(100, [rate('a', '5'), rate('b', '7', true)])).toThrow(
      /all inclusive or all exclusive/,
    );
    expect(() => taxesOfLine(100, [rate('a', '5'), rate('a', '5')])).toThrow(DomainError);
  });

  it('names what a percentage must look like, and refuses anything else', () => {
    for (const good of ['0', '19', '8.875', '100', '100.0000', '0.0001', '99.9999'])
      expect(percentageProblem(good)).toBeUndefined();
    for (const bad of ['100.01', '101', '-1', '1e2', '12.34567', '', ' 5', '5.', '.5', '0x10'])
      expect(percentageProblem(bad)).toMatch(/from "0" to "100"/);
    expect(() => taxesOfLine(100, [rate('a', '120')])).toThrow(/percentage must be a decimal string/);
  });
});
