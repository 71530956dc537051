import { assertMinorUnits, roundHalfUp } from './money.ts';

/**
 * Proration of a plan change mid-period (SPEC §7.3), the rule in one place:
 *
 *   remaining fraction  f = (period_end − change_at) / (period_end − period_start), in milliseconds
 *   used part of a fee      = roundHalfUp(fee × (1 − f))
 *   unused part of a fee    = fee − used part            (so used + unused = fee, exactly)
 *   credit for the old plan = −unused(old fee)
 *   charge for the new plan = +unused(new fee)
 *
 * Each amount is rounded once. Computing the unused part as the complement of the rounded used
 * part means no minor unit is ever created or lost: a change at the very start of the period
 * credits the whole old fee and charges the whole new fee; at the very end both are zero; and
 * changing to a plan with the same fee nets to exactly zero.
 */
export type ProrationInput = {
  oldFee: number;
  newFee: number;
  periodStart: Date;
  periodEnd: Date;
  changeAt: Date;
};

export type Proration = { credit: number; charge: number };

export function unusedPart(fee: number, periodStart: Date, periodEnd: Date, changeAt: Date): number {
  assertMinorUnits(fee, 'fee');
  if (fee < 0) throw new RangeError('A fee cannot be negative');
  const total = BigInt(periodEnd.getTime() - periodStart.getTime());
  if (total <= 0n) throw new RangeError('The period must end after it starts');
  const at = Math.min(Math.max(changeAt.getTime(), periodStart.getTime()), periodEnd.getTime());
  const elapsed = BigInt(at - periodStart.getTime());
  const used = roundHalfUp(BigInt(fee) * elapsed, total);
  return fee - used;
}

export function prorate(input: ProrationInput): Proration {
  const credit = unusedPart(input.oldFee, input.periodStart, input.periodEnd, input.changeAt);
  const charge = unusedPart(input.newFee, input.periodStart, input.periodEnd, input.changeAt);
  return { credit: credit === 0 ? 0 : -credit, charge };
}
