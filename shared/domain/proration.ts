import type { Period } from './billing-period.ts';
import { assertMinorUnits, roundHalfUp } from './money.ts';

/**
 * The one proration rule (docs/billing-rules.md, "Fee segments"): the part `[from, to)` of a period
 * `[start, end)` on a plan whose fee for the whole period is `fee` costs
 *
 *   segment(fee, from, to) = roundHalfUp(fee × (to − start) / L) − roundHalfUp(fee × (from − start) / L)
 *
 * with L = end − start, in milliseconds, exactly (bigint). Moments outside the period are clamped to
 * it. Because every segment is a difference of the same cumulative rounding, the segments of any split
 * of a period add up to exactly the fee (no minor unit created or lost however often a plan changes),
 * the whole period costs the fee, and a credit for `[t, end)` undoes exactly what was charged for it.
 */
export function feeSegment(fee: number, period: Period, from: Date, to: Date): number {
  assertMinorUnits(fee, 'fee');
  if (fee < 0) throw new RangeError('A fee cannot be negative');
  const start = period.start.getTime();
  const length = BigInt(period.end.getTime() - start);
  if (length <= 0n) throw new RangeError('The period must end after it starts');
  const elapsed = (at: Date) => BigInt(Math.min(Math.max(at.getTime(), start), period.end.getTime()) - start);
  const a = elapsed(from);
  const b = elapsed(to);
  if (b < a) throw new RangeError('A segment cannot end before it starts');
  return roundHalfUp(BigInt(fee) * b, length) - roundHalfUp(BigInt(fee) * a, length);
}
