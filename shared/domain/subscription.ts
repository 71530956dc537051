import { addDays, addIntervals, type Period, periodContaining } from './billing-period.ts';
import { type Bill, billAtEarlyEnd, billAtPeriodEnd, currentPeriod, type PlanFees } from './bills.ts';
import { type BudgetPolicy, DEFAULT_BUDGET_POLICY } from './budget-policy.ts';
import type { Interval, RoutingPolicy } from './catalog.ts';
import { DomainError } from './errors.ts';
import { type Charge, DEFAULT_FEE_TIMING, type FeeTiming, type ProrationBehavior } from './fees.ts';
import {
  budgetOf,
  checkItems,
  desiredOf,
  feesOf,
  type ItemChoice,
  type ItemField,
  itemChangeCharges,
  itemFrom,
  itemsField,
  liveItems,
  livePlans,
  MAX_ITEMS,
  type SubscriptionItem,
  sameItems,
} from './subscription-items.ts';

export type SubscriptionStatus = 'trialing' | 'active' | 'past_due' | 'canceled';

/** An anchor the subscription billed from before a change of interval re-anchored it at `until`. */
export type EarlierAnchor = { anchor: string; interval: Interval; until: string };

/**
 * The plans the subscription was on until a change at `until`: `plan_ids` its items' plans, base
 * first (absent on entries written before subscriptions had several items: then `plan_id` alone).
 */
export type EarlierPlan = { plan_id: string; until: string; plan_ids?: string[] };

/** Earlier plans kept: far more than a period's changes (usage older than 45 days is refused anyway). */
const EARLIER_PLANS_KEPT = 50;

export type Subscription = {
  id: string;
  customer_id: string;
  /** The base plan: the first item's (the one-item shorthand, and what names the budgets row). */
  plan_id: string;
  /** The plans it includes, base plan first, each with its quantity and its own fee state. */
  items: SubscriptionItem[];
  status: SubscriptionStatus;
  currency: string;
  interval: Interval;
  /** The base plan's fee timing (copied from the plan, like its currency and interval). */
  fee_timing: FeeTiming;
  /** SmartGateway budget for the current period, minor units; the sum of the items' plans' unless overridden. */
  total_budget: number;
  /** True when total_budget was set on the subscription rather than taken from the plan. */
  total_budget_overridden: boolean;
  /** Copied from the base plan so events carry it without a read (the SmartGateway routing cache). */
  routing_policy: RoutingPolicy | null;
  /** How the SmartGateway enforces the budget, and its alert thresholds: the base plan's unless set here. */
  budget_policy: BudgetPolicy;
  /** True when budget_policy was set on the subscription rather than taken from the base plan. */
  budget_policy_overridden: boolean;
  /**
   * The tax rates of its invoices, in place of its customer's (invoice-tax.ts); null: the
   * customer's. Absent on subscriptions stored before subscriptions had rates (the same as null).
   */
  default_tax_rate_ids?: string[] | null;
  billing_cycle_anchor: string;
  current_period_start: string;
  current_period_end: string;
  /** Anchors before the current one, newest last: late usage from before a re-anchor still finds its period. */
  earlier_anchors: EarlierAnchor[];
  /** Plans before the current one, oldest first, each until the change: late usage is rated with its plan. */
  earlier_plans: EarlierPlan[];
  trial_end: string | null;
  cancel_at_period_end: boolean;
  canceled_at: string | null;
  created_at: string;
  updated_at: string;
  version: number;
};

/** Everything that can happen to a subscription; the table below says from which states. */
export type SubscriptionAction =
  | 'change_plan'
  | 'change_budget'
  | 'change_tax_rates'
  | 'schedule_cancel'
  | 'unschedule_cancel'
  | 'cancel_now'
  | 'end_trial'
  | 'renew'
  | 'expire'
  | 'payment_failed'
  | 'payment_succeeded';

const ALLOWED: Record<SubscriptionAction, readonly SubscriptionStatus[]> = {
  change_plan: ['trialing', 'active'],
  change_budget: ['trialing', 'active', 'past_due'],
  change_tax_rates: ['trialing', 'active', 'past_due'],
  schedule_cancel: ['trialing', 'active', 'past_due'],
  unschedule_cancel: ['trialing', 'active', 'past_due'],
  cancel_now: ['trialing', 'active', 'past_due'],
  end_trial: ['trialing'],
  renew: ['active', 'past_due'],
  expire: ['trialing', 'active', 'past_due'],
  payment_failed: ['active', 'past_due'],
  payment_succeeded: ['active', 'past_due'],
};

const NEXT: Partial<Record<SubscriptionAction, SubscriptionStatus>> = {
  cancel_now: 'canceled',
  end_trial: 'active',
  expire: 'canceled',
  payment_failed: 'past_due',
  payment_succeeded: 'active',
};

const WHY_NOT: Partial<Record<SubscriptionStatus, string>> = {
  canceled: 'a canceled subscription cannot change; create a new subscription',
  past_due: 'settle the open invoice first (the plan cannot change while past due)',
};

/** The state machine: the status after `action`, or a 409 problem saying why not. */
export function nextStatus(status: SubscriptionStatus, action: SubscriptionAction): SubscriptionStatus {
  if (!ALLOWED[action].includes(status)) {
    throw new DomainError(
      'invalid-state-transition',
      `Cannot ${action.replace('_', ' ')} a ${status} subscription${WHY_NOT[status] ? `: ${WHY_NOT[status]}` : ''}`,
    );
  }
  return NEXT[action] ?? status;
}

export const canTransition = (status: SubscriptionStatus, action: SubscriptionAction): boolean =>
  ALLOWED[action].includes(status);

export function newSubscription(
  input: {
    id: string;
    customerId: string;
    /** The plans it includes, base plan first (checked with checkItems). */
    items: readonly ItemChoice[];
    trialDays: number;
    totalBudget?: number | undefined;
    budgetPolicy?: BudgetPolicy | undefined;
    /** Its own tax rates (checked by the caller); null or absent: its customer's. */
    taxRateIds?: string[] | null | undefined;
    field?: ItemField | undefined;
  },
  now: Date,
): Subscription {
  checkItems(input.items, null, input.field ?? itemsField);
  const base = input.items[0]!.plan;
  const at = now.toISOString();
  const trialEnd = input.trialDays > 0 ? addDays(now, input.trialDays) : null;
  const periodEnd = trialEnd ?? addIntervals(now, base.interval, 1);
  const fees = feesOf(input.items);
  return {
    id: input.id,
    customer_id: input.customerId,
    plan_id: base.id,
    // A trial owes no fee: the items start billing when it ends.
    items: desiredOf(input.items).map((item) =>
      itemFrom(item, fees, trialEnd ? periodEnd.toISOString() : at, !trialEnd),
    ),
    status: trialEnd ? 'trialing' : 'active',
    currency: base.currency,
    interval: base.interval,
    fee_timing: base.fee_timing ?? DEFAULT_FEE_TIMING,
    total_budget: input.totalBudget ?? budgetOf(input.items),
    total_budget_overridden: input.totalBudget !== undefined,
    routing_policy: base.routing_policy,
    budget_policy: input.budgetPolicy ?? base.budget_policy ?? DEFAULT_BUDGET_POLICY,
    budget_policy_overridden: input.budgetPolicy !== undefined,
    default_tax_rate_ids: input.taxRateIds ?? null,
    // A trial's end anchors the paid periods that follow it.
    billing_cycle_anchor: (trialEnd ?? now).toISOString(),
    current_period_start: at,
    current_period_end: periodEnd.toISOString(),
    earlier_anchors: [],
    earlier_plans: [],
    trial_end: trialEnd?.toISOString() ?? null,
    cancel_at_period_end: false,
    canceled_at: null,
    created_at: at,
    updated_at: at,
    version: 1,
  };
}

/**
 * The subscription once its current period has ended (the period close), through the state machine:
 * a trial ends (`end_trial`), a cancellation at period end takes effect (`expire`: the subscription
 * stays on its last period, canceled at its end), anything else renews into the following period,
 * each live item on its plan's fee now (`fees`), prepaid when billed in advance (the closing invoice
 * bills it). An item kept only to bill its arrears to the period's end is gone from then on.
 */
export function afterPeriodEnd(subscription: Subscription, fees: PlanFees, now: Date): Subscription {
  const periodEnd = subscription.current_period_end;
  const action: SubscriptionAction = subscription.cancel_at_period_end
    ? 'expire'
    : subscription.status === 'trialing'
      ? 'end_trial'
      : 'renew';
  const status = nextStatus(subscription.status, action);
  const version = subscription.version + 1;
  const updated_at = now.toISOString();
  if (action === 'expire') {
    return {
      ...subscription,
      status,
      canceled_at: periodEnd,
      cancel_at_period_end: false,
      updated_at,
      version,
    };
  }
  const following = periodAfter(subscription);
  const start = following.start.toISOString();
  return {
    ...subscription,
    status,
    current_period_start: start,
    current_period_end: following.end.toISOString(),
    items: liveItems(subscription.items).map((item) => itemFrom(item, fees, start, true)),
    updated_at,
    version,
  };
}

/** The period that follows the current one on the subscription's anchor. */
export const periodAfter = (subscription: Subscription): Period =>
  periodContaining(
    new Date(subscription.billing_cycle_anchor),
    subscription.interval,
    new Date(subscription.current_period_end),
  );

/** The close of the current period: the subscription after it, and what the closing invoice bills. */
export function closeCurrentPeriod(
  subscription: Subscription,
  fees: PlanFees,
  now: Date,
): { advanced: Subscription; bill: Bill } {
  const advanced = afterPeriodEnd(subscription, fees, now);
  const next = advanced.status === 'canceled' ? null : currentPeriod(advanced);
  return { advanced, bill: billAtPeriodEnd(subscription, fees, next) };
}

export type SubscriptionPatch = {
  /** Each plan's fee now: every current item's (for an item change and for cancel now) and every requested one's. */
  fees?: PlanFees | undefined;
  /** The items the subscription should hold, in order (a plan change is its base item's change). */
  items?: readonly ItemChoice[] | undefined;
  /** Where the request named the items (for errors). */
  itemField?: ItemField | undefined;
  prorationBehavior?: ProrationBehavior | undefined;
  totalBudget?: number | undefined;
  budgetPolicy?: BudgetPolicy | undefined;
  /** Its own tax rates from now on (checked by the caller); null: its customer's again. */
  taxRateIds?: string[] | null | undefined;
  cancelAtPeriodEnd?: boolean | undefined;
  cancelNow?: boolean | undefined;
  /** With cancelNow: false gives no credit for prepaid time not used. */
  prorate?: boolean | undefined;
};

/** A pending invoice item: a charge of a change, waiting for the subscription's next invoice. */
export type PendingItem = Charge;

export type PatchOutcome = {
  subscription: Subscription;
  /** Charges for the next invoice (proration items, time used on a plan billed in arrears). */
  pendingItems: PendingItem[];
  /** An invoice to draft now, with every pending item: cancel now, another interval, always_invoice. */
  bill: Bill | null;
  changes: string[];
};

/**
 * Applies a PATCH: each requested change goes through the state machine, and the money of it follows
 * docs/billing-rules.md: a change of items (a plan change is one: its base item's) in the period
 * yields each changed item's prorations (none during a trial, when no fee is owed); a change to
 * another interval ends the period at the change and bills it at once; cancel now bills the final
 * invoice at once. Plans in another currency are refused (a subscription's invoices have one
 * currency).
 */
export function applyPatch(current: Subscription, patch: SubscriptionPatch, now: Date): PatchOutcome {
  let next: Subscription = { ...current };
  let pendingItems: PendingItem[] = [];
  let bill: Bill | null = null;
  const changes: string[] = [];
  const at = now.toISOString();
  const behavior = patch.prorationBehavior ?? 'create_prorations';

  if (patch.cancelNow) {
    next.status = nextStatus(next.status, 'cancel_now');
    next.canceled_at = at;
    next.cancel_at_period_end = false;
    bill = billAtEarlyEnd(
      current,
      required(patch.fees),
      now,
      patch.prorate !== false,
      'subscription_cancel',
      null,
    );
    changes.push('status');
  }

  if (patch.items && !sameItems(current.items, desiredOf(patch.items))) {
    const choices = patch.items;
    nextStatus(next.status, 'change_plan');
    checkItems(
      choices,
      current.currency,
      patch.itemField ?? itemsField,
      new Map(liveItems(current.items).map((item) => [item.plan_id, item.quantity])),
    );
    const fees = required(patch.fees);
    const desired = desiredOf(choices);
    const base = choices[0]!.plan;
    const trialing = current.status === 'trialing';
    if (base.interval !== current.interval && !trialing) {
      // A new rhythm: the current period ends here, is billed at once, and the new one starts now.
      const period = { start: now, end: addIntervals(now, base.interval, 1) };
      bill = billAtEarlyEnd(current, fees, now, behavior !== 'none', 'subscription_update', {
        period,
        items: desired,
      });
      next = {
        ...next,
        billing_cycle_anchor: at,
        current_period_start: at,
        current_period_end: period.end.toISOString(),
        items: desired.map((item) => itemFrom(item, fees, at, true)),
        earlier_anchors: [
          ...current.earlier_anchors,
          { anchor: current.billing_cycle_anchor, interval: current.interval, until: at },
        ],
      };
      changes.push('current_period_start', 'current_period_end');
    } else if (trialing) {
      // Nothing is billed during a trial: the items start billing when it ends.
      next.items = desired.map((item) => itemFrom(item, fees, current.current_period_end, false));
    } else {
      const change = itemChangeCharges(
        current.items,
        desired,
        fees,
        currentPeriod(current),
        now,
        behavior,
        current.currency,
      );
      if (change.items.length > MAX_ITEMS) {
        // Items removed with `none` stay until the period ends; they count towards the bound too.
        throw new DomainError(
          'unprocessable',
          `Subscription ${current.id} would hold ${change.items.length} items, more than ${MAX_ITEMS}, counting those removed with proration_behavior none that are billed to the period's end; remove them with create_prorations instead`,
          [
            {
              field: 'proration_behavior',
              message: `would keep more than ${MAX_ITEMS} items until the period ends`,
            },
          ],
        );
      }
      next.items = change.items;
      if (behavior === 'always_invoice') {
        bill = {
          reason: 'subscription_update',
          period: { start: now, end: now },
          billsUsage: false,
          charges: change.charges,
          nextPeriod: currentPeriod(current),
        };
      } else {
        pendingItems = change.charges;
      }
    }
    const plansChanged = JSON.stringify(livePlans(current.items)) !== JSON.stringify(livePlans(next.items));
    next = {
      ...next,
      plan_id: base.id,
      earlier_plans: plansChanged
        ? [
            ...current.earlier_plans,
            { plan_id: current.plan_id, plan_ids: livePlans(current.items), until: at },
          ].slice(-EARLIER_PLANS_KEPT)
        : current.earlier_plans,
      interval: base.interval,
      fee_timing: base.fee_timing,
      routing_policy: base.routing_policy,
      total_budget: next.total_budget_overridden ? next.total_budget : budgetOf(choices),
      budget_policy: next.budget_policy_overridden
        ? next.budget_policy
        : (base.budget_policy ?? DEFAULT_BUDGET_POLICY),
    };
    if (JSON.stringify(next.budget_policy) !== JSON.stringify(current.budget_policy))
      changes.push('budget_policy');
    changes.push('items');
    if (next.plan_id !== current.plan_id) changes.push('plan_id');
    if (next.total_budget !== current.total_budget) changes.push('total_budget');
    if (JSON.stringify(next.routing_policy) !== JSON.stringify(current.routing_policy))
      changes.push('routing_policy');
  }

  if (patch.totalBudget !== undefined && patch.totalBudget !== next.total_budget) {
    nextStatus(next.status, 'change_budget');
    next.total_budget = patch.totalBudget;
    next.total_budget_overridden = true;
    if (!changes.includes('total_budget')) changes.push('total_budget');
  }

  if (patch.budgetPolicy !== undefined) {
    nextStatus(next.status, 'change_budget');
    const changed = JSON.stringify(patch.budgetPolicy) !== JSON.stringify(next.budget_policy);
    next.budget_policy = patch.budgetPolicy;
    next.budget_policy_overridden = true;
    if (changed && !changes.includes('budget_policy')) changes.push('budget_policy');
  }

  if (patch.taxRateIds !== undefined) {
    nextStatus(next.status, 'change_tax_rates');
    const before = next.default_tax_rate_ids ?? null;
    if (JSON.stringify(patch.taxRateIds) !== JSON.stringify(before)) {
      next.default_tax_rate_ids = patch.taxRateIds === null ? null : [...patch.taxRateIds];
      changes.push('default_tax_rate_ids');
    }
  }

  if (patch.cancelAtPeriodEnd !== undefined && patch.cancelAtPeriodEnd !== next.cancel_at_period_end) {
    nextStatus(next.status, patch.cancelAtPeriodEnd ? 'schedule_cancel' : 'unschedule_cancel');
    next.cancel_at_period_end = patch.cancelAtPeriodEnd;
    changes.push('cancel_at_period_end');
  }

  if (changes.length > 0) {
    next.updated_at = at;
    next.version = current.version + 1;
  }
  return { subscription: next, pendingItems, bill, changes };
}

function required(fees: PlanFees | undefined): PlanFees {
  if (!fees) throw new Error('The fees of the current plans are required for this change');
  return fees;
}
