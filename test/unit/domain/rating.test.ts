import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Price, PriceModel, PriceTier } from '../../../shared/domain/catalog.ts';
import { roundHalfUp } from '../../../shared/domain/money.ts';
import { exactUsageAmount, parseQuantity, rateUsage } from '../../../shared/domain/rating.ts';
import { millionthsToQuantity, USAGE_SHARDS } from '../../../shared/domain/usage.ts';
import {
  MAX_USAGE_LINE_AMOUNT,
  periodQuantityLimitMillionths,
  shardQuantityLimit,
} from '../../../shared/domain/usage-limits.ts';

// ---- fixtures ---------------------------------------------------------------------------------

const base: Price = {
  id: 'price_test',
  plan_id: 'plan_test',
  currency: 'USD',
  model: 'per_unit',
  metric: 'attestations',
  unit_amount: null,
  unit_amount_decimal: null,
  package_size: null,
  tiers: null,
  nickname: null,
  active: true,
  created_at: '2025-01-01T00:00:00.000Z',
  updated_at: '2025-01-01T00:00:00.000Z',
  version: 1,
};
const perUnitPrice = (unit: string): Price => ({ ...base, model: 'per_unit', unit_amount_decimal: unit });
const packagePrice = (unit: string, size: number): Price => ({
  ...base,
  model: 'package',
  unit_amount_decimal: unit,
  package_size: size,
});
const tieredPrice = (model: 'tiered_graduated' | 'tiered_volume', tiers: PriceTier[]): Price => ({
  ...base,
  model,
  tiers,
});
const flatPrice: Price = { ...base, model: 'flat', metric: null, unit_amount: 1000 };

// ---- an independent reference: plain fractions and loops --------------------------------------

/** A non-negative rational n/d, d > 0, never reduced (compared by cross-multiplication). */
type Q = { n: bigint; d: bigint };
const int = (value: number | bigint): Q => ({ n: BigInt(value), d: 1n });
const dec = (text: string): Q => {
  const [whole = '', fraction = ''] = text.split('.');
  return { n: BigInt(whole + fraction), d: 10n ** BigInt(fraction.length) };
};
const add = (a: Q, b: Q): Q => ({ n: a.n * b.d + b.n * a.d, d: a.d * b.d });
const sub = (a: Q, b: Q): Q => ({ n: a.n * b.d - b.n * a.d, d: a.d * b.d });
const mul = (a: Q, b: Q): Q => ({ n: a.n * b.n, d: a.d * b.d });
const cmp = (a: Q, b: Q): number => Math.sign(Number(a.n * b.d - b.n * a.d));
const min = (a: Q, b: Q): Q => (cmp(a, b) <= 0 ? a : b);
const exact = (price: Price, quantity: string): Q => {
  const { numerator, denominator } = exactUsageAmount(price, quantity);
  return { n: numerator, d: denominator };
};

const referencePerUnit = (price: Price, quantity: string): Q =>
  mul(dec(quantity), dec(price.unit_amount_decimal!));

/** Adds whole packages until they cover the quantity. */
function referencePackage(price: Price, quantity: string): Q {
  const size = int(price.package_size!);
  let covered = int(0);
  let packages = 0;
  while (cmp(covered, dec(quantity)) < 0) {
    covered = add(covered, size);
    packages += 1;
  }
  return mul(int(packages), dec(price.unit_amount_decimal!));
}

/** Walks unit by unit: the unit (k-1, k] (possibly a fraction of it, at the end) costs the price of k's tier. */
function referenceGraduated(price: Price, quantity: string): Q {
  const tiers = price.tiers!;
  const total = dec(quantity);
  const reached = new Set<PriceTier>();
  let amount = int(0);
  for (let k = 1; cmp(int(k - 1), total) < 0; k++) {
    const tier = tiers.find((t) => t.up_to === null || k <= t.up_to)!;
    if (!reached.has(tier)) {
      reached.add(tier);
      amount = add(amount, int(tier.flat_amount));
    }
    const slice = sub(min(int(k), total), int(k - 1));
    amount = add(amount, mul(slice, dec(tier.unit_amount_decimal)));
  }
  return amount;
}

function referenceVolume(price: Price, quantity: string): Q {
  const total = dec(quantity);
  if (total.n === 0n) return int(0);
  for (const tier of price.tiers!) {
    if (tier.up_to === null || cmp(total, int(tier.up_to)) <= 0) {
      return add(mul(total, dec(tier.unit_amount_decimal)), int(tier.flat_amount));
    }
  }
  throw new Error('no tier holds the quantity');
}

const REFERENCE: Record<Exclude<PriceModel, 'flat' | 'one_time'>, (price: Price, quantity: string) => Q> = {
  per_unit: referencePerUnit,
  package: referencePackage,
  tiered_graduated: referenceGraduated,
  tiered_volume: referenceVolume,
};

// ---- generators -------------------------------------------------------------------------------

const digits = (maxLength: number) =>
  fc.string({ unit: fc.constantFrom(...'0123456789'), minLength: 0, maxLength });
const decimal = (maxWhole: number, maxFractionDigits: number) =>
  fc
    .tuple(fc.integer({ min: 0, max: maxWhole }), digits(maxFractionDigits))
    .map(([whole, fraction]) => (fraction ? `${whole}.${fraction}` : `${whole}`));

/** Unit prices as the catalog accepts them (up to 12 fraction digits), including "0". */
const unitAmount = decimal(1000, 12);
const quantity = fc.oneof(fc.integer({ min: 0, max: 3000 }).map(String), decimal(3000, 6));
const tiers = fc
  .tuple(
    fc.uniqueArray(fc.integer({ min: 1, max: 2500 }), { maxLength: 5 }),
    fc.array(fc.tuple(unitAmount, fc.integer({ min: 0, max: 10_000 })), { minLength: 6, maxLength: 6 }),
  )
  .map(([bounds, values]): PriceTier[] =>
    [...bounds.sort((a, b) => a - b), null].map((up_to, i) => ({
      up_to,
      unit_amount_decimal: values[i]![0],
      flat_amount: values[i]![1],
    })),
  );
const usagePrice = fc.oneof(
  unitAmount.map(perUnitPrice),
  fc.tuple(unitAmount, fc.integer({ min: 1, max: 500 })).map(([unit, size]) => packagePrice(unit, size)),
  tiers.map((t) => tieredPrice('tiered_graduated', t)),
  tiers.map((t) => tieredPrice('tiered_volume', t)),
);

/** A price and a quantity, often right at, just past or just below a tier bound or package edge. */
const priceAndQuantity = usagePrice.chain((price) => {
  const edges = [...(price.tiers ?? []).map((t) => t.up_to), price.package_size].filter((e) => e !== null);
  if (edges.length === 0) return fc.tuple(fc.constant(price), quantity);
  const nearEdge = fc
    .tuple(fc.constantFrom(...edges), fc.constantFrom('', '.000001', '.5'), fc.boolean())
    .map(([edge, fraction, below]) => `${below ? edge - 1 : edge}${fraction}`);
  return fc.tuple(fc.constant(price), fc.oneof(quantity, nearEdge));
});

/** Volume tiers whose unit prices and flat fees do not decrease: then, and only then, volume is monotone. */
const nonDecreasingTiers = tiers.map((ladder): PriceTier[] => {
  const units = ladder.map((t) => t.unit_amount_decimal).sort((a, b) => cmp(dec(a), dec(b)));
  const flats = ladder.map((t) => t.flat_amount).sort((a, b) => a - b);
  return ladder.map((t, i) => ({ up_to: t.up_to, unit_amount_decimal: units[i]!, flat_amount: flats[i]! }));
});
const monotonePrice = fc.oneof(
  unitAmount.map(perUnitPrice),
  fc.tuple(unitAmount, fc.integer({ min: 1, max: 500 })).map(([unit, size]) => packagePrice(unit, size)),
  tiers.map((t) => tieredPrice('tiered_graduated', t)),
  nonDecreasingTiers.map((t) => tieredPrice('tiered_volume', t)),
);

// ---- properties -------------------------------------------------------------------------------

describe('rating usage against an independent reference', () => {
  it('every usage model computes the exact amount of the reference, rounded once half up', () => {
    fc.assert(
      fc.property(priceAndQuantity, ([price, q]) => {
        const reference = REFERENCE[price.model as Exclude<PriceModel, 'flat' | 'one_time'>](price, q);
        expect(cmp(exact(price, q), reference)).toBe(0);
        expect(rateUsage(price, q)).toBe(roundHalfUp(reference.n, reference.d));
      }),
      { numRuns: 400 },
    );
  });

  it('per_unit: the result is within half a minor unit of the exact value, halves rounding up', () => {
    fc.assert(
      fc.property(unitAmount, quantity, (unit, q) => {
        const price = perUnitPrice(unit);
        const value = referencePerUnit(price, q);
        const rated = rateUsage(price, q);
        expect(rated).toBe(roundHalfUp(value.n, value.d));
        // |rated − n/d| ≤ ½  ⇔  2·|rated·d − n| ≤ d; on an exact half it rounds away from zero (up).
        const twiceError = 2n * (BigInt(rated) * value.d - value.n);
        expect(twiceError <= value.d && -twiceError <= value.d).toBe(true);
        if (twiceError === value.d || -twiceError === value.d)
          expect(BigInt(rated) * value.d > value.n).toBe(true);
      }),
    );
  });

  it('more quantity never costs less: per_unit, package, graduated, and volume with non-decreasing tiers', () => {
    fc.assert(
      fc.property(monotonePrice, quantity, quantity, (price, a, b) => {
        const [less, more] = cmp(dec(a), dec(b)) <= 0 ? [a, b] : [b, a];
        expect(cmp(exact(price, less), exact(price, more))).toBeLessThanOrEqual(0);
        expect(rateUsage(price, less)).toBeLessThanOrEqual(rateUsage(price, more));
      }),
    );
  });

  it('volume is monotone within a tier, but crossing into a cheaper tier can cost less (by design)', () => {
    fc.assert(
      fc.property(tiers, quantity, quantity, (ladder, a, b) => {
        const price = tieredPrice('tiered_volume', ladder);
        const tierOf = (q: string) =>
          ladder.findIndex((t) => t.up_to === null || cmp(dec(q), int(t.up_to)) <= 0);
        fc.pre(dec(a).n > 0n && dec(b).n > 0n && tierOf(a) === tierOf(b));
        const [less, more] = cmp(dec(a), dec(b)) <= 0 ? [a, b] : [b, a];
        expect(rateUsage(price, less)).toBeLessThanOrEqual(rateUsage(price, more));
      }),
    );
    const cheaperAbove = tieredPrice('tiered_volume', [
      { up_to: 1000, unit_amount_decimal: '1', flat_amount: 0 },
      { up_to: null, unit_amount_decimal: '0.5', flat_amount: 0 },
    ]);
    expect(rateUsage(cheaperAbove, '1000')).toBe(1000);
    expect(rateUsage(cheaperAbove, '1001')).toBe(501);
  });

  it('with one unbounded tier, graduated and volume equal per_unit (plus the flat fee once usage exists)', () => {
    fc.assert(
      fc.property(unitAmount, fc.integer({ min: 0, max: 10_000 }), quantity, (unit, flat, q) => {
        const expected = add(referencePerUnit(perUnitPrice(unit), q), int(dec(q).n === 0n ? 0 : flat));
        for (const model of ['tiered_graduated', 'tiered_volume'] as const) {
          const tier = [{ up_to: null, unit_amount_decimal: unit, flat_amount: flat }];
          expect(cmp(exact(tieredPrice(model, tier), q), expected)).toBe(0);
          if (flat === 0)
            expect(rateUsage(tieredPrice(model, tier), q)).toBe(rateUsage(perUnitPrice(unit), q));
        }
      }),
    );
  });

  it('an archived price rates exactly like the active one', () => {
    fc.assert(
      fc.property(usagePrice, quantity, (price, q) => {
        expect(rateUsage({ ...price, active: false, version: 2 }, q)).toBe(rateUsage(price, q));
      }),
    );
  });

  it('quantity 0 costs nothing in every usage model', () => {
    fc.assert(
      fc.property(usagePrice, (price) => {
        expect(rateUsage(price, '0')).toBe(0);
      }),
    );
  });
});

// ---- worked examples --------------------------------------------------------------------------

const ladder: PriceTier[] = [
  { up_to: 1000, unit_amount_decimal: '0.5', flat_amount: 0 },
  { up_to: null, unit_amount_decimal: '0.25', flat_amount: 100 },
];

describe('worked examples', () => {
  it('per_unit: 1,000,000 units at 0.04 minor units is 40,000', () => {
    expect(rateUsage(perUnitPrice('0.04'), '1000000')).toBe(40_000);
  });

  it('package: 250 units in packages of 100 at 500 is 3 packages, 1500', () => {
    expect(rateUsage(packagePrice('500', 100), '250')).toBe(1500);
    expect(rateUsage(packagePrice('500', 100), '200')).toBe(1000);
    expect(rateUsage(packagePrice('500', 100), '200.000001')).toBe(1500);
    expect(rateUsage(packagePrice('500', 100), '0.5')).toBe(500);
  });

  it('graduated: 1500 units is 1000 × 0.5 + 500 × 0.25 + 100 = 725', () => {
    const price = tieredPrice('tiered_graduated', ladder);
    expect(rateUsage(price, '1500')).toBe(725);
    expect(rateUsage(price, '1000')).toBe(500); // the second tier (and its flat fee) is not reached
    expect(rateUsage(price, '1000.000001')).toBe(600); // reached: its flat fee is due in full
    expect(exactUsageAmount(price, '1000.000001')).toEqual({
      numerator: 60000000025n,
      denominator: 10n ** 8n,
    });
  });

  it('volume: 1500 units is 1500 × 0.25 + 100 = 475', () => {
    const price = tieredPrice('tiered_volume', ladder);
    expect(rateUsage(price, '1500')).toBe(475);
    expect(rateUsage(price, '1000')).toBe(500);
    expect(rateUsage(price, '1')).toBe(1); // 0.5 → 1
  });

  it('rounds once per line, half away from zero: 3 × 0.5 = 1.5 → 2; 3 × 0.4 = 1.2 → 1', () => {
    expect(exactUsageAmount(perUnitPrice('0.5'), '3')).toEqual({ numerator: 15n, denominator: 10n });
    expect(rateUsage(perUnitPrice('0.5'), '3')).toBe(2);
    expect(rateUsage(perUnitPrice('0.4'), '3')).toBe(1); // rounding each unit would give 0
    expect(rateUsage(perUnitPrice('0.49'), '1')).toBe(0);
    // The exact amount has the smallest power-of-ten denominator: 0.50 × 2.000 is 1/1, not 1000000/1000000.
    expect(exactUsageAmount(perUnitPrice('0.50'), '2.000')).toEqual({ numerator: 1n, denominator: 1n });
  });

  it('fractional quantities are exact: 2.5 units at 3 is 7.5 → 8', () => {
    expect(exactUsageAmount(perUnitPrice('3'), '2.5')).toEqual({ numerator: 75n, denominator: 10n });
    expect(rateUsage(perUnitPrice('3'), '2.5')).toBe(8);
    expect(rateUsage(perUnitPrice('1000000'), '0.000001')).toBe(1);
  });
});

// ---- refusals ---------------------------------------------------------------------------------

describe('refusals', () => {
  it('parseQuantity accepts exact non-negative decimals only', () => {
    expect(parseQuantity('1500')).toEqual({ units: 1500n, scale: 0 });
    expect(parseQuantity('2.5')).toEqual({ units: 25n, scale: 1 });
    expect(parseQuantity('0.000001')).toEqual({ units: 1n, scale: 6 });
    expect(parseQuantity('999999999999999.999999')).toEqual({ units: 999999999999999999999n, scale: 6 });
    // A period total of many records may exceed any single record's limit.
    expect(parseQuantity('9'.repeat(20))).toEqual({ units: BigInt('9'.repeat(20)), scale: 0 });
    for (const text of ['-1', '1e3', '', '1.1234567', 'abc', ' 1', '1 ', '1.', '.5', '+1', '1'.repeat(21)]) {
      expect(() => parseQuantity(text), text).toThrow(RangeError);
      expect(() => rateUsage(perUnitPrice('1'), text), text).toThrow(RangeError);
    }
  });

  it('a flat price is not a usage price', () => {
    expect(() => rateUsage(flatPrice, '1')).toThrow(RangeError);
    expect(() => exactUsageAmount(flatPrice, '0')).toThrow(RangeError);
  });

  it('an amount beyond Number.MAX_SAFE_INTEGER is refused, right at the rounding boundary', () => {
    expect(rateUsage(perUnitPrice('9007199254740.991'), '1000')).toBe(Number.MAX_SAFE_INTEGER);
    expect(rateUsage(perUnitPrice('9007199254740.9914'), '1000')).toBe(Number.MAX_SAFE_INTEGER); // …991.4
    expect(() => rateUsage(perUnitPrice('9007199254740.9915'), '1000')).toThrow(RangeError); // …991.5 → …992
    expect(() => rateUsage(perUnitPrice('999999999999999'), '999999999999999')).toThrow(RangeError);
  });

  it('a malformed stored price is refused rather than rated', () => {
    expect(() => rateUsage({ ...base, model: 'per_unit' }, '1')).toThrow(RangeError);
    expect(() => rateUsage(packagePrice('1', 0), '1')).toThrow(RangeError);
    expect(() => rateUsage(tieredPrice('tiered_volume', []), '1')).toThrow(RangeError);
    expect(() => rateUsage({ ...base, model: 'tiered_graduated' }, '1')).toThrow(RangeError);
    const descending = [ladder[1]!, ladder[0]!];
    expect(() => rateUsage(tieredPrice('tiered_graduated', descending), '1')).toThrow(RangeError);
    const noLast = [ladder[0]!];
    expect(() => rateUsage(tieredPrice('tiered_volume', noLast), '1')).toThrow(RangeError);
  });
});

// Found from outside: 23,000 records of 9,999,999,999,999 calls at 0.04 ¢ rated past 2^53 minor
// units; GET usage answered 500 and every period close failed with a RangeError.
describe("a period's usage limit per price (shared/domain/usage-limits.ts)", () => {
  // Rating itself is checked against the reference above; here it is the judge of the limit.
  const fraction = fc.bigInt({ min: 0n, max: 1_000_000n });
  const MAX = { n: BigInt(MAX_USAGE_LINE_AMOUNT), d: 1n };

  it('no quantity up to the limit rates past MAX_USAGE_LINE_AMOUNT, and none raises an error', () => {
    fc.assert(
      fc.property(usagePrice, fraction, (price, share) => {
        const limit = periodQuantityLimitMillionths(price);
        const q = millionthsToQuantity((limit * share) / 1_000_000n);
        expect(cmp(exact(price, q), MAX)).toBeLessThanOrEqual(0);
        expect(() => rateUsage(price, q)).not.toThrow();
        expect(cmp(exact(price, millionthsToQuantity(limit)), MAX)).toBeLessThanOrEqual(0);
      }),
      { numRuns: 300 },
    );
  });

  it('is tight for a per-unit price: one millionth more rates past it', () => {
    fc.assert(
      fc.property(unitAmount, (unit) => {
        fc.pre(dec(unit).n > 0n);
        const price = perUnitPrice(unit);
        const limit = periodQuantityLimitMillionths(price);
        fc.pre(limit < 10n ** 26n - 1n); // not capped by how many digits a quantity may have
        expect(cmp(exact(price, millionthsToQuantity(limit + 1n)), MAX)).toBe(1);
      }),
      { numRuns: 200 },
    );
  });

  it("the shards' shares add up to at most the limit", () => {
    fc.assert(
      fc.property(usagePrice, (price) => {
        const share = dec(shardQuantityLimit(price));
        const total = mul(share, int(USAGE_SHARDS));
        const limit = { n: periodQuantityLimitMillionths(price), d: 1_000_000n };
        expect(cmp(total, limit)).toBeLessThanOrEqual(0);
      }),
    );
  });

  it('the published attack: 0.04 ¢ per call allows 25,000,000,000,000 calls a period, 3,125,000,000,000 per shard', () => {
    const price = perUnitPrice('0.04');
    expect(millionthsToQuantity(periodQuantityLimitMillionths(price))).toBe('25000000000000');
    expect(shardQuantityLimit(price)).toBe('3125000000000');
    expect(rateUsage(price, '25000000000000')).toBe(MAX_USAGE_LINE_AMOUNT);
  });
});
