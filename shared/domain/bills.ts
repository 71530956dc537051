import type { Period } from './billing-period.ts';
import { advanceFee, billedFee, type Charge, endOfPlanCharges, type PlanFee, usedTime } from './fees.ts';
import { type DesiredItem, itemFee, type SubscriptionItem } from './subscription-items.ts';

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
export type BilledSubscription = {
  status: string;
  currency: string;
  current_period_start: string;
  current_period_end: string;
  items: readonly SubscriptionItem[];
};

/** Each plan's fee now, for a whole period at quantity 1 (the catalog's). */
export type PlanFees = (planId: string) => PlanFee;

export const currentPeriod = (
  subscription: Pick<BilledSubscription, 'current_period_start' | 'current_period_end'>,
): Period => ({
  start: new Date(subscription.current_period_start),
  end: new Date(subscription.current_period_end),
});

/** An item's fee now: its plan's fee now times its quantity. */
const liveFee = (fees: PlanFees, item: Pick<SubscriptionItem, 'plan_id' | 'quantity'>): PlanFee =>
  itemFee(fees(item.plan_id), item.quantity);

/** The fees of a period that is starting, item by item, for the items billed in advance. */
const advanceFees = (
  items: readonly Pick<SubscriptionItem, 'plan_id' | 'quantity'>[],
  fees: PlanFees,
  period: Period,
  currency: string,
): Charge[] =>
  items
    .filter((item) => item.quantity > 0)
    .flatMap((item) => advanceFee(liveFee(fees, item), period, currency));

/** At subscribe: the first period's fees of the items billed in advance (no invoice when there is none). */
export function billAtStart(subscription: BilledSubscription, fees: PlanFees): Bill | null {
  if (subscription.status === 'trialing') return null;
  const period = currentPeriod(subscription);
  const charges = advanceFees(subscription.items, fees, period, subscription.currency);
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
 * The close of the current period: its usage, each item's billed fee for its time not paid in
 * advance, and, unless the subscription ends with the period (`next` null), the next period's fee of
 * each live item (its plan's fee now) when in advance. A trial bills no fee of its own.
 */
export function billAtPeriodEnd(subscription: BilledSubscription, fees: PlanFees, next: Period | null): Bill {
  const period = currentPeriod(subscription);
  const owed =
    subscription.status === 'trialing'
      ? []
      : subscription.items.flatMap((item) =>
          usedTime(billedFee(item, liveFee(fees, item)), period, item, period.end, subscription.currency),
        );
  return {
    reason: 'subscription_cycle',
    period,
    billsUsage: true,
    charges: [...owed, ...(next ? advanceFees(subscription.items, fees, next, subscription.currency) : [])],
    nextPeriod: next,
  };
}

/**
 * The current period ends early at `at` (cancel now, or a change to another interval): its usage so
 * far, and what each item's billed fee is owed for its time (in arrears) or owes back for the prepaid
 * time not used (in advance, when `creditUnused`). A trial bills no fee. Nothing of the period has
 * passed when `at` is its very start: then it closes no usage (the next period starts there, and its
 * usage with it) and is keyed as a change, not as that period's close. `next` is the period that
 * starts at `at` (a change of interval) with the items it bills.
 */
export function billAtEarlyEnd(
  subscription: BilledSubscription,
  fees: PlanFees,
  at: Date,
  creditUnused: boolean,
  reason: 'subscription_cancel' | 'subscription_update',
  next: { period: Period; items: readonly DesiredItem[] } | null,
): Bill {
  const period = currentPeriod(subscription);
  const owed =
    subscription.status === 'trialing'
      ? []
      : subscription.items.flatMap((item) =>
          endOfPlanCharges(liveFee(fees, item), period, item, at, subscription.currency, creditUnused),
        );
  return {
    reason,
    period: { start: period.start, end: at },
    billsUsage: at.getTime() > period.start.getTime(),
    charges: [...owed, ...(next ? advanceFees(next.items, fees, next.period, subscription.currency) : [])],
    nextPeriod: next?.period ?? null,
  };
}
