import type { Price } from './catalog.ts';
import { pow10 } from './money.ts';
import { amountBound } from './rating.ts';
import { millionthsToQuantity, USAGE_SHARDS } from './usage.ts';

/**
 * What a period's usage may add up to (docs/billing-rules.md, "Limits"). An invoice holds amounts
 * as integer minor units in JS numbers, exact below 2^53 (≈ 9.007 × 10^15). One usage line, the
 * period's total of one price, may rate at most MAX_USAGE_LINE_AMOUNT: 10^12 minor units (ten
 * billion in a two-decimal currency), so thousands of lines still add up exactly.
 *
 * The bound is enforced where usage is counted, atomically: each of a period's USAGE_SHARDS counter
 * shards of a price may hold at most an equal share of the period's quantity limit, checked by the
 * same transaction that adds to it. So the shards together never pass the limit, the record that
 * would cross it is refused (the ones before it stay counted), and no read of the other shards is
 * needed. The limit is a quantity: the largest that `amountBound` (a line above every amount the
 * price can rate) keeps within MAX_USAGE_LINE_AMOUNT, and never more than a quantity can be written
 * (20 integer digits).
 */
export const MAX_USAGE_LINE_AMOUNT = 1_000_000_000_000;

/** The largest quantity total parseQuantity reads: 20 integer and 6 fraction digits, in millionths. */
const MAX_QUANTITY_MILLIONTHS = pow10(26) - 1n;

/** The most one price's usage may total in one period, in millionths of a unit. */
export function periodQuantityLimitMillionths(price: Price): bigint {
  const { flat, perUnit } = amountBound(price);
  // (MAX − flat) / perUnit, in millionths of a unit, rounded down; flat and perUnit are decimals.
  const scale = Math.max(flat.scale, perUnit.scale);
  const room = BigInt(MAX_USAGE_LINE_AMOUNT) * pow10(scale) - flat.units * pow10(scale - flat.scale);
  if (room <= 0n) return 0n;
  const unitAtScale = perUnit.units * pow10(scale - perUnit.scale);
  if (unitAtScale === 0n) return MAX_QUANTITY_MILLIONTHS;
  const limit = (room * pow10(6)) / unitAtScale;
  return limit < MAX_QUANTITY_MILLIONTHS ? limit : MAX_QUANTITY_MILLIONTHS;
}

/** What one counter shard of a period may hold of `price`'s metric: an equal share of the limit. */
export function shardQuantityLimit(price: Price): string {
  return millionthsToQuantity(periodQuantityLimitMillionths(price) / BigInt(USAGE_SHARDS));
}

/** The period limit as a quantity, for messages. */
export const periodQuantityLimit = (price: Price): string =>
  millionthsToQuantity(periodQuantityLimitMillionths(price));
