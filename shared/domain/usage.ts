import { type Period, periodContaining } from './billing-period.ts';
import type { Price } from './catalog.ts';
import type { FieldError } from './errors.ts';
import type { Subscription } from './subscription.ts';
import { livePlans } from './subscription-items.ts';

/**
 * Rules for accepting one usage record (SPEC §5, §7.2), as pure functions: which period it
 * belongs to, and why it may be refused. Refusals name the field, so a batch can report them by
 * index (`records.3.timestamp`).
 */

/** How far in the future a timestamp may be (clock skew between the gateway and us). */
export const MAX_FUTURE_SKEW_MS = 5 * 60 * 1000;

/**
 * How old a record's timestamp may be. Usage records (the exactly-once claims) are kept at least 60
 * days after their period ends (USAGE_RECORD_RETENTION_DAYS, 400 by default); refusing anything older than this keeps every accepted record's claim
 * alive for as long as a copy of it could still be accepted, so an expired claim never lets a
 * replay count twice.
 */
export const MAX_LATENESS_MS = 45 * 86_400_000;

/** Counter shards per subscription: the write ceiling of one subscription is this many partitions. */
export const USAGE_SHARDS = 8;

/**
 * The plans a subscription's items were on at `at`, base plan first: usage is rated with the prices
 * of the plans it was used under, also when it arrives after a change (late records of the period
 * before it). A metric is rated by the first of them that prices it.
 */
export function plansAt(subscription: Subscription, at: Date): string[] {
  const iso = at.toISOString();
  const earlier = subscription.earlier_plans.find((entry) => iso < entry.until);
  if (earlier) return earlier.plan_ids ?? [earlier.plan_id];
  return livePlans(subscription.items);
}

/**
 * The moment a record counts at: its timestamp, or, when it is stamped ahead of the service's clock
 * (clock skew, at most MAX_FUTURE_SKEW_MS), the moment it arrived: a period that has not started yet
 * may never exist (a change of interval, a cancellation can come first).
 */
export const countedAt = (at: Date, now: Date): Date => (at > now ? now : at);

/** The billing period a moment belongs to: the trial while trialing, else the calendar period. */
export function usagePeriodFor(subscription: Subscription, at: Date): Period | undefined {
  const created = new Date(subscription.created_at);
  if (at < created) return undefined;
  if (subscription.trial_end && at < new Date(subscription.trial_end)) {
    return { start: created, end: new Date(subscription.trial_end) };
  }
  const anchor = new Date(subscription.billing_cycle_anchor);
  if (at >= anchor) return periodContaining(anchor, subscription.interval, at);
  // Before the current anchor (a change to another interval re-anchored the subscription): the period
  // of the anchor it billed from then, cut short where the re-anchor ended it.
  for (const earlier of [...subscription.earlier_anchors].reverse()) {
    const from = new Date(earlier.anchor);
    const until = new Date(earlier.until);
    if (at < from || at >= until) continue;
    const period = periodContaining(from, earlier.interval, at);
    return { start: period.start, end: period.end < until ? period.end : until };
  }
  const start = new Date(subscription.current_period_start);
  const end = new Date(subscription.current_period_end);
  return at >= start && at < end ? { start, end } : undefined;
}

export type UsageDecision =
  | { ok: true; period: Period; price: Price }
  | { ok: false; status: 404 | 409 | 422; errors: FieldError[]; detail: string };

/**
 * Whether a record for `subscription` (undefined: unknown) at `at` for `metric` may be counted,
 * given the prices of each plan and the current time. Closed (invoiced) periods are checked in the
 * store, atomically with the write.
 */
export function decideUsage(
  subscription: Subscription | undefined,
  pricesOf: (planId: string) => readonly Price[],
  metric: string,
  at: Date,
  now: Date,
): UsageDecision {
  if (!subscription) {
    return refuse(404, 'subscription_id', 'no such subscription', 'The subscription does not exist');
  }
  if (at.getTime() > now.getTime() + MAX_FUTURE_SKEW_MS) {
    return refuse(
      422,
      'timestamp',
      `is more than ${MAX_FUTURE_SKEW_MS / 60000} minutes in the future`,
      'Usage cannot be reported ahead of time',
    );
  }
  if (at.getTime() < now.getTime() - MAX_LATENESS_MS) {
    return refuse(
      422,
      'timestamp',
      `is more than ${MAX_LATENESS_MS / 86_400_000} days old; usage that late is no longer accepted`,
      'The timestamp is too old',
    );
  }
  if (
    subscription.status === 'canceled' &&
    subscription.canceled_at &&
    at >= new Date(subscription.canceled_at)
  ) {
    return refuse(
      409,
      'subscription_id',
      `was canceled at ${subscription.canceled_at}; usage after that is not billed`,
      'The subscription is canceled',
    );
  }
  const counted = countedAt(at, now);
  if (subscription.cancel_at_period_end && counted >= new Date(subscription.current_period_end)) {
    return refuse(
      409,
      'subscription_id',
      `ends at ${subscription.current_period_end} (canceled at period end); usage after that is not billed`,
      'The subscription has ended',
    );
  }
  const plans = plansAt(subscription, counted);
  const price = plans
    .map((planId) => pricesOf(planId).find((p) => p.active && p.metric === metric))
    .find((found) => found !== undefined);
  if (!price) {
    return refuse(
      422,
      'metric',
      plans.length === 1
        ? `the plan ${plans[0]} has no active price for "${metric}"`
        : `none of the plans ${plans.join(', ')} has an active price for "${metric}"`,
      'Unknown metric for this subscription',
    );
  }
  const period = usagePeriodFor(subscription, counted);
  if (!period) {
    return refuse(
      422,
      'timestamp',
      `is outside every open billing period of this subscription (it started ${subscription.created_at})`,
      'The timestamp belongs to no open period',
    );
  }
  return { ok: true, period, price };
}

function refuse(status: 404 | 409 | 422, field: string, message: string, detail: string): UsageDecision {
  return { ok: false, status, errors: [{ field, message }], detail };
}

/** Quantities have at most 6 decimals, so a quantity is exactly an integer number of millionths. */
const QUANTITY_SCALE = 6;

export function quantityToMillionths(quantity: string): bigint {
  const match = /^(\d+)(?:\.(\d{1,6}))?$/.exec(quantity);
  if (!match) throw new RangeError(`"${quantity}" is not a usage quantity`);
  return BigInt(match[1]! + (match[2] ?? '').padEnd(QUANTITY_SCALE, '0'));
}

export function millionthsToQuantity(value: bigint): string {
  const digits = value.toString().padStart(QUANTITY_SCALE + 1, '0');
  const fraction = digits.slice(-QUANTITY_SCALE).replace(/0+$/, '');
  const whole = digits.slice(0, -QUANTITY_SCALE);
  return fraction ? `${whole}.${fraction}` : whole;
}

/** Exact sum of decimal quantity strings, as a canonical decimal string. */
export function sumQuantities(quantities: readonly string[]): string {
  return millionthsToQuantity(quantities.reduce((total, q) => total + quantityToMillionths(q), 0n));
}

/** Compares two decimal quantity strings exactly, like a sort comparator. */
export function compareQuantities(a: string, b: string): number {
  const difference = quantityToMillionths(a) - quantityToMillionths(b);
  return difference < 0n ? -1 : difference > 0n ? 1 : 0;
}

/**
 * Until when the records of a period ending at `periodEnd` are kept (their claims and listing
 * entries), given the stage's retention in days (USAGE_RECORD_RETENTION_DAYS).
 */
export const usageRecordsKeptUntil = (periodEnd: string, retentionDays: number): Date =>
  new Date(new Date(periodEnd).getTime() + retentionDays * 86_400_000);
