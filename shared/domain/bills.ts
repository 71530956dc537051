import type { Period } from './billing-period.ts';
import {
  advanceFee,
  billedFee,
  type Charge,
  endOfPlanCharges,
  type FeeState,
  type PlanFee,
  usedTime,
} from './fees.ts';

/**
 * What one lifecycle moment invoices at once (docs/billing-rules.md, "Invoices a subscription
 * produces"): its reason, the stretch it closes and whether it bills that stretch's usage, the
 * charges of the moment, and the subscription period the SmartGateway moves to when it is paid (null
 * for a final invoice). Every pending item of the subscription joins the invoice too.
 */
export type BillingReason =
  | 'subscription_create'
  | 'subscription_cycle'
  | 'subscription_update'
  | 'subscription_cancel';

export type Bill = {
  reason: BillingReason;
  /** The period closed: [its start, the moment it ends). Its usage is billed when `billsUsage`. */
  period: Period;
  billsUsage: boolean;
  charges: Charge[];
  nextPeriod: Period | null;
};

/** The part of a subscription a bill is computed from. */
export type BilledSubscription = FeeState & {
  status: string;
  currency: string;
  current_period_start: string;
  current_period_end: string;
};

export const currentPeriod = (subscription: BilledSubscription): Period => ({
  start: new Date(subscription.current_period_start),
  end: new Date(subscription.current_period_end),
});

/** At subscribe: the first period's fee when the plan bills in advance (no invoice when there is none). */
export function billAtStart(subscription: BilledSubscription, plan: PlanFee): Bill | null {
  if (subscription.status === 'trialing') return null;
  const period = currentPeriod(subscription);
  const charges = advanceFee(plan, period, subscription.currency);
  if (charges.length === 0) return null;
  return {
    reason: 'subscription_create',
    period: { start: period.start, end: period.start },
    billsUsage: false,
    charges,
    nextPeriod: period,
  };
}

/**
 * The close of the current period: its usage, the billed fee's time not paid in advance, and, unless
 * the subscription ends with the period (`next` null), the next period's fee of the current plan
 * (`plan`, its fee now) when in advance. A trial bills no fee of its own.
 */
export function billAtPeriodEnd(subscription: BilledSubscription, plan: PlanFee, next: Period | null): Bill {
  const period = currentPeriod(subscription);
  const owed =
    subscription.status === 'trialing'
      ? []
      : usedTime(billedFee(subscription, plan), period, subscription, period.end, subscription.currency);
  return {
    reason: 'subscription_cycle',
    period,
    billsUsage: true,
    charges: [...owed, ...(next ? advanceFee(plan, next, subscription.currency) : [])],
    nextPeriod: next,
  };
}

/**
 * The current period ends early at `at` (cancel now, or a change to another interval): its usage so
 * far, and what the billed fee is owed for its time (in arrears) or owes back for the prepaid time
 * not used (in advance, when `creditUnused`). A trial bills no fee. Nothing of the period has passed
 * when `at` is its very start: then it closes no usage (the next period starts there, and its usage
 * with it) and is keyed as a change, not as that period's close.
 */
export function billAtEarlyEnd(
  subscription: BilledSubscription,
  plan: PlanFee,
  at: Date,
  creditUnused: boolean,
  reason: 'subscription_cancel' | 'subscription_update',
  next: { period: Period; plan: PlanFee } | null,
): Bill {
  const period = currentPeriod(subscription);
  const owed =
    subscription.status === 'trialing'
      ? []
      : endOfPlanCharges(plan, period, subscription, at, subscription.currency, creditUnused);
  return {
    reason,
    period: { start: period.start, end: at },
    billsUsage: at.getTime() > period.start.getTime(),
    charges: [...owed, ...(next ? advanceFee(next.plan, next.period, subscription.currency) : [])],
    nextPeriod: next?.period ?? null,
  };
}
