import type { Price } from './catalog.ts';
import { type Decimal, parseDecimal, pow10, roundHalfUp } from './money.ts';
import { tierIssues } from './price-rules.ts';

/**
 * Rating (docs/billing-rules.md, "Price models"): the amount one usage price charges for a whole
 * period's quantity of its metric. The exact value is computed first, as a decimal of bigints
 * (every model multiplies and adds decimals, so it always terminates), and rounded once by
 * `roundHalfUp`. An archived price still rates: an invoice rates with the price the usage was sold at.
 */

/** The unrounded amount in minor units; the denominator is always a power of ten. */
export type ExactAmount = { numerator: bigint; denominator: bigint };

const QUANTITY = /^\d{1,20}(?:\.\d{1,6})?$/;

/** A usage quantity ("1500", "2.5", "0.000001"): exact, non-negative, ≤ 20 integer and 6 fraction digits (a period total of many records). */
export function parseQuantity(text: string): Decimal {
  if (!QUANTITY.test(text)) {
    throw new RangeError(
      `Quantity "${text}" is not a non-negative decimal with at most 20 integer and 6 fraction digits`,
    );
  }
  return parseDecimal(text);
}

/** The amount in integer minor units: the exact amount rounded once, halves away from zero. */
export function rateUsage(price: Price, quantity: string): number {
  const { numerator, denominator } = exactUsageAmount(price, quantity);
  // The rounded value exceeds MAX_SAFE_INTEGER exactly when the exact one is ≥ MAX_SAFE_INTEGER + ½.
  if (2n * numerator >= (2n * BigInt(Number.MAX_SAFE_INTEGER) + 1n) * denominator) {
    throw new RangeError(
      `Price ${price.id} rates ${quantity} units above ${Number.MAX_SAFE_INTEGER} minor units`,
    );
  }
  return roundHalfUp(numerator, denominator);
}

/** The exact (unrounded) amount of `quantity` units of `price`'s metric, in minor units. */
export function exactUsageAmount(price: Price, quantity: string): ExactAmount {
  let { units, scale } = exactAmount(price, parseQuantity(quantity));
  while (scale > 0 && units % 10n === 0n) {
    units /= 10n;
    scale -= 1;
  }
  return { numerator: units, denominator: pow10(scale) };
}

/** Flat and one-time prices rate no usage: asked to, that is a bug in the caller. */
function notAUsagePrice(price: Price): never {
  throw new RangeError(
    price.model === 'flat'
      ? `Price ${price.id} is a flat fee, not a usage price: it is part of recurringFee`
      : `Price ${price.id} is a one-time price, not a usage price: it is sold by the item`,
  );
}

function exactAmount(price: Price, quantity: Decimal): Decimal {
  switch (price.model) {
    case 'flat':
    case 'one_time':
      return notAUsagePrice(price);
    case 'per_unit':
      return perUnit(quantity, unitAmount(price));
    case 'package':
      return perPackage(quantity, packageSize(price), unitAmount(price));
    case 'tiered_graduated':
      return graduated(quantity, tiersOf(price));
    case 'tiered_volume':
      return volume(quantity, tiersOf(price));
  }
}

/** per_unit: quantity × unit_amount_decimal. */
const perUnit = (quantity: Decimal, unit: Decimal): Decimal => times(quantity, unit);

/** package: ceil(quantity / package_size) × unit_amount_decimal; a started package is charged in full. */
function perPackage(quantity: Decimal, size: number, unit: Decimal): Decimal {
  const unitsPerPackage = BigInt(size) * pow10(quantity.scale);
  const packages = (quantity.units + unitsPerPackage - 1n) / unitsPerPackage;
  return times({ units: packages, scale: 0 }, unit);
}

/**
 * tiered_graduated: tier i covers (up_to[i-1], up_to[i]]. Each tier the quantity reaches adds its
 * flat_amount once plus the units within it (fractional too) × its unit_amount_decimal.
 */
function graduated(quantity: Decimal, tiers: readonly Tier[]): Decimal {
  let total = ZERO;
  let floor = ZERO;
  for (const tier of tiers) {
    if (compare(quantity, floor) <= 0) break;
    const ceiling = tier.upTo === null || compare(quantity, tier.upTo) < 0 ? quantity : tier.upTo;
    total = plus(total, plus(tier.flat, times(minus(ceiling, floor), tier.unit)));
    floor = tier.upTo ?? quantity;
  }
  return total;
}

/**
 * tiered_volume: every unit at the price of the tier holding the total (the first with up_to null
 * or quantity ≤ up_to), plus that tier's flat_amount. Quantity 0 charges nothing.
 */
function volume(quantity: Decimal, tiers: readonly Tier[]): Decimal {
  if (quantity.units === 0n) return ZERO;
  // tiersOf guarantees an unbounded last tier, so some tier holds every quantity.
  const tier = tiers.find((t) => t.upTo === null || compare(quantity, t.upTo) <= 0)!;
  return plus(times(quantity, tier.unit), tier.flat);
}

/**
 * A line above every amount `price` can rate: amount(q) ≤ flat + q × perUnit for every quantity q,
 * for each model (package: a started package costs at most one package more than q's share; tiers:
 * every flat amount plus q at the dearest unit price). What bounds a period's quantity
 * (shared/domain/usage-limits.ts).
 */
export function amountBound(price: Price): { flat: Decimal; perUnit: Decimal } {
  switch (price.model) {
    case 'flat':
    case 'one_time':
      return notAUsagePrice(price);
    case 'per_unit':
      return { flat: ZERO, perUnit: unitAmount(price) };
    case 'package': {
      const unit = unitAmount(price);
      // unit / size, rounded up to the next millionth of a minor unit per quantity unit.
      const size = BigInt(packageSize(price));
      const scale = unit.scale + 6;
      const share = (unit.units * pow10(6) + size - 1n) / size;
      return { flat: unit, perUnit: { units: share, scale } };
    }
    case 'tiered_graduated':
    case 'tiered_volume': {
      const tiers = tiersOf(price);
      return {
        flat: tiers.reduce((sum, tier) => plus(sum, tier.flat), ZERO),
        perUnit: tiers.reduce((max, tier) => (compare(tier.unit, max) > 0 ? tier.unit : max), ZERO),
      };
    }
  }
}

type Tier = { upTo: Decimal | null; unit: Decimal; flat: Decimal };

function tiersOf(price: Price): Tier[] {
  const tiers = price.tiers;
  if (!tiers || tiers.length === 0) throw invalid(price, 'tiers');
  const issue = tierIssues(tiers)[0];
  if (issue) throw invalid(price, `tiers.${issue.index}.up_to (${issue.message})`);
  return tiers.map((tier, index) => {
    if (tier.up_to !== null && !(Number.isSafeInteger(tier.up_to) && tier.up_to > 0)) {
      throw invalid(price, `tiers.${index}.up_to`);
    }
    if (!Number.isSafeInteger(tier.flat_amount) || tier.flat_amount < 0) {
      throw invalid(price, `tiers.${index}.flat_amount`);
    }
    return {
      upTo: tier.up_to === null ? null : integer(tier.up_to),
      unit: parseDecimal(tier.unit_amount_decimal),
      flat: integer(tier.flat_amount),
    };
  });
}

function packageSize(price: Price): number {
  const size = price.package_size;
  if (size === null || !Number.isSafeInteger(size) || size < 1) throw invalid(price, 'package_size');
  return size;
}

function unitAmount(price: Price): Decimal {
  if (price.unit_amount_decimal === null) throw invalid(price, 'unit_amount_decimal');
  return parseDecimal(price.unit_amount_decimal);
}

const invalid = (price: Price, field: string): RangeError =>
  new RangeError(`Price ${price.id} (${price.model}) has an invalid ${field}`);

// ---- exact decimal arithmetic ----------------------------------------------------------------

const ZERO: Decimal = { units: 0n, scale: 0 };
const integer = (n: number): Decimal => ({ units: BigInt(n), scale: 0 });
const atScale = (d: Decimal, scale: number): bigint => d.units * pow10(scale - d.scale);
const times = (a: Decimal, b: Decimal): Decimal => ({ units: a.units * b.units, scale: a.scale + b.scale });

function plus(a: Decimal, b: Decimal): Decimal {
  const scale = Math.max(a.scale, b.scale);
  return { units: atScale(a, scale) + atScale(b, scale), scale };
}

const minus = (a: Decimal, b: Decimal): Decimal => plus(a, { units: -b.units, scale: b.scale });

function compare(a: Decimal, b: Decimal): number {
  const scale = Math.max(a.scale, b.scale);
  const difference = atScale(a, scale) - atScale(b, scale);
  return difference < 0n ? -1 : difference > 0n ? 1 : 0;
}
