import type { Period } from './billing-period.ts';
import type { Interval } from './catalog.ts';
import { feeSegment } from './proration.ts';

/**
 * When a plan's fee is billed (docs/billing-rules.md, "Fees"): `in_advance` at the start of each
 * period (the default, as Stripe bills licensed prices), `in_arrears` at its end, with its usage.
 */
export type FeeTiming = 'in_advance' | 'in_arrears';

export const DEFAULT_FEE_TIMING: FeeTiming = 'in_advance';

/** A plan's fee as billing needs it: the sum of its active flat prices for a whole period. */
export type PlanFee = { plan_id: string; name: string; fee: number; timing: FeeTiming; interval: Interval };

/**
 * One amount a lifecycle moment bills, before it is on an invoice: a period's fee, the time used on
 * a plan billed in arrears, or a proration (credit for prepaid time not used, charge for the time
 * left on a prepaid plan). Stored as a pending invoice item when it waits for the next invoice.
 */
export type Charge = {
  kind: 'fee' | 'used_time' | 'proration_credit' | 'proration_charge';
  /** Minor units; negative for a credit. */
  amount: number;
  currency: string;
  plan_id: string;
  description: string;
  period_start: string;
  period_end: string;
};

/**
 * Where a subscription stands with the fee it is billed in the current period: which plan's fee, as
 * it was when the segment started (a price changed since does not reprice time already sold, and a
 * change with `proration_behavior: none` leaves the old plan billed to the period's end), since when,
 * and whether that fee was invoiced in advance for the rest of the period.
 */
export type FeeState = {
  /** When the billed fee started in the current period (its start, or the last prorated change). */
  fee_segment_start: string;
  /** Whether the billed fee for [fee_segment_start, period end) was invoiced in advance. */
  fee_prepaid: boolean;
  /** The fee billed for that segment; null on subscriptions stored before it was kept (the live fee). */
  billed_fee: PlanFee | null;
};

/** The fee the current segment bills: the one kept on the subscription, else (older data) the live one. */
export const billedFee = (state: FeeState, live: PlanFee): PlanFee => state.billed_fee ?? live;

const iso = (at: Date) => at.toISOString();
/** A moment as an invoice reader wants it: the day, and the minute when it is not midnight (UTC). */
const day = (at: Date) => {
  const text = at.toISOString();
  return text.endsWith('T00:00:00.000Z')
    ? text.slice(0, 10)
    : `${text.slice(0, 10)} ${text.slice(11, 16)} UTC`;
};

const charge = (
  kind: Charge['kind'],
  amount: number,
  plan: PlanFee,
  currency: string,
  from: Date,
  to: Date,
  description: string,
): Charge[] =>
  amount === 0
    ? []
    : [
        {
          kind,
          amount,
          currency,
          plan_id: plan.plan_id,
          description,
          period_start: iso(from),
          period_end: iso(to),
        },
      ];

/** In advance: the whole fee of a period that is starting. Nothing for a plan billed in arrears. */
export function advanceFee(plan: PlanFee, period: Period, currency: string): Charge[] {
  if (plan.timing !== 'in_advance') return [];
  return charge(
    'fee',
    plan.fee,
    plan,
    currency,
    period.start,
    period.end,
    `${plan.name}: ${day(period.start)} to ${day(period.end)}`,
  );
}

/**
 * What the current plan owes for its time in `period` up to `until`, when it was not paid in
 * advance: its segment from `state.fee_segment_start`. Nothing when it was prepaid.
 */
export function usedTime(
  plan: PlanFee,
  period: Period,
  state: FeeState,
  until: Date,
  currency: string,
): Charge[] {
  if (state.fee_prepaid) return [];
  const from = new Date(state.fee_segment_start);
  if (until <= from) return [];
  const full = from.getTime() === period.start.getTime() && until.getTime() === period.end.getTime();
  return charge(
    full ? 'fee' : 'used_time',
    feeSegment(plan.fee, period, from, until),
    plan,
    currency,
    from,
    until,
    full
      ? `${plan.name}: ${day(period.start)} to ${day(period.end)}`
      : `${plan.name}: ${day(from)} to ${day(until)}`,
  );
}

/** The credit for the prepaid time not used, from `from` to the end of `period`. Nothing if not prepaid. */
export function unusedTimeCredit(
  plan: PlanFee,
  period: Period,
  state: FeeState,
  from: Date,
  currency: string,
): Charge[] {
  if (!state.fee_prepaid || from >= period.end) return [];
  return charge(
    'proration_credit',
    -feeSegment(plan.fee, period, from, period.end),
    plan,
    currency,
    from,
    period.end,
    `Unused time on ${plan.name} from ${day(from)}`,
  );
}

/**
 * What the billed fee is owed or owes back when it stops at `at` (a cancel, a change): its used time
 * when billed in arrears, a credit for the prepaid time not used (when `creditUnused`).
 */
export function endOfPlanCharges(
  live: PlanFee,
  period: Period,
  state: FeeState,
  at: Date,
  currency: string,
  creditUnused: boolean,
): Charge[] {
  const plan = billedFee(state, live);
  return state.fee_prepaid
    ? creditUnused
      ? unusedTimeCredit(plan, period, state, at, currency)
      : []
    : usedTime(plan, period, state, at, currency);
}

export type ProrationBehavior = 'create_prorations' | 'always_invoice' | 'none';

/**
 * A change from the `from` plan (its live fee; the billed one is in `state`) to `to` at `at`, within
 * one period (same interval): the billed fee's end (credit for its prepaid unused time, or its used
 * time when billed in arrears) and, when the new plan bills in advance, the charge for the time left.
 * With `none` nothing is prorated and the fee state stays: the old fee stays billed to the period's
 * end, and the new plan's starts with the next period. The fee state that follows is returned too.
 */
export function planChangeCharges(
  from: PlanFee,
  to: PlanFee,
  period: Period,
  state: FeeState,
  at: Date,
  behavior: ProrationBehavior,
  currency: string,
): { charges: Charge[]; state: FeeState } {
  // (A subscription stored before billed fees were kept keeps the old plan's fee from here on.)
  if (behavior === 'none') return { charges: [], state: { ...state, billed_fee: state.billed_fee ?? from } };
  const oldPlan = endOfPlanCharges(from, period, state, at, currency, true);
  const newPlan =
    to.timing === 'in_advance'
      ? charge(
          'proration_charge',
          feeSegment(to.fee, period, at, period.end),
          to,
          currency,
          at,
          period.end,
          `Remaining time on ${to.name} from ${day(at)}`,
        )
      : [];
  return {
    charges: [...oldPlan, ...newPlan],
    state: { fee_segment_start: iso(at), fee_prepaid: to.timing === 'in_advance', billed_fee: to },
  };
}
