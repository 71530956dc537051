import { runConcurrently } from '../../concurrency.ts';
import type { Price } from '../../domain/catalog.ts';
import { buildLines, draftInvoice, pendingItemsOfPeriod } from '../../domain/invoice.ts';
import { type Caller, systemPrincipal } from '../../domain/principal.ts';
import { afterPeriodEnd, type Subscription } from '../../domain/subscription.ts';
import { auditBy } from '../../store/audit.ts';
import { InvoicesRepository } from '../../store/invoices-repository.ts';
import { SubscriptionsRepository } from '../../store/subscriptions-repository.ts';
import { UsageRepository } from '../../store/usage-repository.ts';
import { listPlanPrices } from '../catalog.ts';
import { markOverdue } from './dunning.ts';

/** The system's own principal, for the scheduled period close and dunning. */
export const SCHEDULER = systemPrincipal('billing-scheduler');

/** The scheduled job as a caller at `now`. */
export const schedulerAt = (now: Date): Caller => ({ principal: SCHEDULER, requestId: null, now });

/** Subscriptions closed at once: each close is a handful of reads and one transaction. */
const CLOSE_CONCURRENCY = 8;

export type CloseReport = {
  subscriptions: number;
  invoices_created: number;
  already_invoiced: number;
  skipped: number;
  /** Subscriptions moved to past_due (an open invoice past its due date) and back to active. */
  past_due: number;
  restored: number;
};

/**
 * The period-close job (scheduled in AWS, `npm run close-periods` or the local timer): every
 * subscription whose period has ended gets a draft invoice for that period and moves on; then
 * subscriptions with an overdue invoice become past_due (markOverdue). Safe to
 * run again or concurrently: a period's invoice id is derived from the period, and the subscription
 * only advances from the period it was read in.
 */
export async function closeDuePeriods(
  tableName: string,
  now: Date,
  caller: Caller = schedulerAt(now),
): Promise<CloseReport> {
  const due = await new SubscriptionsRepository(tableName).listDue(now);
  const report: CloseReport = {
    subscriptions: due.length,
    invoices_created: 0,
    already_invoiced: 0,
    skipped: 0,
    past_due: 0,
    restored: 0,
  };
  // Many subscriptions share a plan: its prices are read once per run.
  const pricesByPlan = new Map<string, Promise<Price[]>>();
  const planPrices: PlanPrices = (planId) => {
    let prices = pricesByPlan.get(planId);
    if (!prices) {
      prices = listPlanPrices(tableName, planId);
      pricesByPlan.set(planId, prices);
      prices.catch(() => pricesByPlan.delete(planId));
    }
    return prices;
  };
  await runConcurrently(due.length, CLOSE_CONCURRENCY, async (i) => {
    const outcome = await closeSubscriptionPeriods(tableName, due[i]!, caller, planPrices);
    report.invoices_created += outcome.created;
    report.already_invoiced += outcome.already;
    report.skipped += outcome.skipped;
  });
  const standing = await markOverdue(tableName, caller);
  report.past_due = standing.past_due;
  report.restored = standing.restored;
  return report;
}

type PlanPrices = (planId: string) => Promise<Price[]>;

/** Closes every ended period of one subscription (several if the job did not run for a while). */
export async function closeSubscriptionPeriods(
  tableName: string,
  start: Subscription,
  caller: Caller,
  planPrices: PlanPrices = (planId) => listPlanPrices(tableName, planId),
) {
  const invoices = new InvoicesRepository(tableName);
  const result = { created: 0, already: 0, skipped: 0 };
  let subscription: Subscription | undefined = start;
  while (
    subscription &&
    subscription.status !== 'canceled' &&
    new Date(subscription.current_period_end) <= caller.now
  ) {
    const { invoice, advanced } = await draftFor(tableName, subscription, caller.now, planPrices);
    const outcome = await invoices.createDraftAndAdvance(invoice, advanced, subscription.version, {
      invoice: auditBy(caller, 'invoice', invoice.id, 'invoice.created', null, invoice),
      subscription: auditBy(
        caller,
        'subscription',
        subscription.id,
        'subscription.period_closed',
        subscription,
        advanced,
      ),
    });
    if (outcome === 'created') result.created++;
    else if (outcome === 'already-invoiced') result.already++;
    else result.skipped++;
    if (outcome !== 'created') break;
    subscription = advanced;
  }
  return result;
}

async function draftFor(tableName: string, subscription: Subscription, now: Date, planPrices: PlanPrices) {
  const inTrial = subscription.status === 'trialing';
  const [prices, usage, pendingItems] = await Promise.all([
    planPrices(subscription.plan_id),
    new UsageRepository(tableName).aggregates(subscription.id, subscription.current_period_start),
    new SubscriptionsRepository(tableName).pendingItems(subscription.id),
  ]);
  const lines = buildLines({
    periodStart: subscription.current_period_start,
    periodEnd: subscription.current_period_end,
    flatPrices: inTrial ? [] : prices.filter((p) => p.active && p.model === 'flat'),
    usage,
    pendingItems: pendingItemsOfPeriod(pendingItems, subscription.current_period_end),
  });
  const advanced = afterPeriodEnd(subscription, now);
  return { invoice: draftInvoice(subscription, advanced, lines, now), advanced };
}
