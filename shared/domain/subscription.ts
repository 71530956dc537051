import { addDays, addIntervals, periodContaining } from './billing-period.ts';
import type { Interval, Plan, RoutingPolicy } from './catalog.ts';
import { DomainError } from './errors.ts';
import { prorate } from './proration.ts';

export type SubscriptionStatus = 'trialing' | 'active' | 'past_due' | 'canceled';

export type Subscription = {
  id: string;
  customer_id: string;
  plan_id: string;
  status: SubscriptionStatus;
  currency: string;
  interval: Interval;
  /** SmartGateway budget for the current period, minor units; the plan's unless overridden. */
  total_budget: number;
  /** True when total_budget was set on the subscription rather than taken from the plan. */
  total_budget_overridden: boolean;
  /** Copied from the plan so events carry it without a read (the SmartGateway routing cache). */
  routing_policy: RoutingPolicy | null;
  billing_cycle_anchor: string;
  current_period_start: string;
  current_period_end: string;
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
  input: { id: string; customerId: string; plan: Plan; trialDays: number; totalBudget?: number | undefined },
  now: Date,
): Subscription {
  if (!input.plan.active) {
    throw new DomainError('conflict', `Plan ${input.plan.id} is archived; subscribe to an active plan`);
  }
  const at = now.toISOString();
  const trialEnd = input.trialDays > 0 ? addDays(now, input.trialDays) : null;
  const periodEnd = trialEnd ?? addIntervals(now, input.plan.interval, 1);
  return {
    id: input.id,
    customer_id: input.customerId,
    plan_id: input.plan.id,
    status: trialEnd ? 'trialing' : 'active',
    currency: input.plan.currency,
    interval: input.plan.interval,
    total_budget: input.totalBudget ?? input.plan.total_budget,
    total_budget_overridden: input.totalBudget !== undefined,
    routing_policy: input.plan.routing_policy,
    // A trial's end anchors the paid periods that follow it.
    billing_cycle_anchor: (trialEnd ?? now).toISOString(),
    current_period_start: at,
    current_period_end: periodEnd.toISOString(),
    trial_end: trialEnd?.toISOString() ?? null,
    cancel_at_period_end: false,
    canceled_at: null,
    created_at: at,
    updated_at: at,
    version: 1,
  };
}

export type SubscriptionPatch = {
  plan?: { plan: Plan; oldFee: number; newFee: number } | undefined;
  totalBudget?: number | undefined;
  cancelAtPeriodEnd?: boolean | undefined;
  cancelNow?: boolean | undefined;
};

/** A pending invoice item the next invoice picks up (proration credit or charge). */
export type PendingItem = {
  kind: 'proration_credit' | 'proration_charge';
  amount: number;
  currency: string;
  plan_id: string;
  description: string;
  period_start: string;
  period_end: string;
};

export type PatchOutcome = { subscription: Subscription; pendingItems: PendingItem[]; changes: string[] };

/**
 * Applies a PATCH: each requested change goes through the state machine; a plan change mid-period
 * yields proration items (none during a trial, when nothing was charged). Plans in another currency
 * or with another interval are refused: the subscription's invoices have one currency, and its
 * periods one rhythm (re-anchoring mid-period would strand the usage counted so far).
 */
export function applyPatch(current: Subscription, patch: SubscriptionPatch, now: Date): PatchOutcome {
  let next: Subscription = { ...current };
  const pendingItems: PendingItem[] = [];
  const changes: string[] = [];
  const at = now.toISOString();

  if (patch.cancelNow) {
    next.status = nextStatus(next.status, 'cancel_now');
    next.canceled_at = at;
    next.cancel_at_period_end = false;
    changes.push('status');
  }

  if (patch.plan && patch.plan.plan.id !== current.plan_id) {
    const { plan, oldFee, newFee } = patch.plan;
    nextStatus(next.status, 'change_plan');
    if (!plan.active) throw new DomainError('conflict', `Plan ${plan.id} is archived; choose an active plan`);
    if (plan.interval !== current.interval) {
      // A new interval would re-anchor the billing periods mid-period and strand the usage already
      // counted in the old one; until that is billed as its own partial period, it is refused.
      throw new DomainError(
        'conflict',
        `Plan ${plan.id} bills every ${plan.interval} but this subscription bills every ${current.interval}; ` +
          'cancel at period end and subscribe to the new plan',
      );
    }
    if (plan.currency !== current.currency) {
      throw new DomainError(
        'conflict',
        `Plan ${plan.id} is priced in ${plan.currency} but this subscription bills in ${current.currency}`,
      );
    }
    const periodStart = new Date(current.current_period_start);
    const periodEnd = new Date(current.current_period_end);
    if (current.status !== 'trialing') {
      const { credit, charge } = prorate({ oldFee, newFee, periodStart, periodEnd, changeAt: now });
      const item = (
        kind: PendingItem['kind'],
        amount: number,
        planId: string,
        what: string,
      ): PendingItem => ({
        kind,
        amount,
        currency: current.currency,
        plan_id: planId,
        description: `${what} on plan ${planId} from ${at}`,
        period_start: at,
        period_end: periodEnd.toISOString(),
      });
      if (credit !== 0) pendingItems.push(item('proration_credit', credit, current.plan_id, 'Unused time'));
      if (charge !== 0) pendingItems.push(item('proration_charge', charge, plan.id, 'Remaining time'));
    }
    next = {
      ...next,
      plan_id: plan.id,
      routing_policy: plan.routing_policy,
      total_budget: next.total_budget_overridden ? next.total_budget : plan.total_budget,
    };
    changes.push('plan_id');
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

  if (patch.cancelAtPeriodEnd !== undefined && patch.cancelAtPeriodEnd !== next.cancel_at_period_end) {
    nextStatus(next.status, patch.cancelAtPeriodEnd ? 'schedule_cancel' : 'unschedule_cancel');
    next.cancel_at_period_end = patch.cancelAtPeriodEnd;
    changes.push('cancel_at_period_end');
  }

  if (changes.length > 0) {
    next.updated_at = at;
    next.version = current.version + 1;
  }
  return { subscription: next, pendingItems, changes };
}

/**
 * The subscription once its current period has ended (the period close), through the state machine:
 * a trial ends (`end_trial`), a cancellation at period end takes effect (`expire`: the subscription
 * stays on its last period, canceled at its end), anything else renews into the following period.
 */
export function afterPeriodEnd(subscription: Subscription, now: Date): Subscription {
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
  const following = periodContaining(
    new Date(subscription.billing_cycle_anchor),
    subscription.interval,
    new Date(periodEnd),
  );
  return {
    ...subscription,
    status,
    current_period_start: following.start.toISOString(),
    current_period_end: following.end.toISOString(),
    updated_at,
    version,
  };
}
