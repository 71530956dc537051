import { runConcurrently } from '../../concurrency.ts';
import type { PlanFee } from '../../domain/fees.ts';
import { draftInvoice, pendingItemsOfPeriod } from '../../domain/invoice.ts';
import { type Caller, systemPrincipal } from '../../domain/principal.ts';
import { closeCurrentPeriod, type Subscription } from '../../domain/subscription.ts';
import { logger } from '../../logger.ts';
import { auditBy } from '../../store/audit.ts';
import { CloseFailuresRepository } from '../../store/close-failures-repository.ts';
import { InvoicesRepository } from '../../store/invoices-repository.ts';
import { SubscriptionsRepository } from '../../store/subscriptions-repository.ts';
import { getPlanFee, planFeesFor } from '../catalog.ts';
import { type DueWorkList, workListForRun } from './due-work-list.ts';
import { markOverdue } from './dunning.ts';
import { periodUsage } from './period-usage.ts';

/** The system's own principal, for the scheduled period close and dunning. */
export const SCHEDULER = systemPrincipal('billing-scheduler');

/** The scheduled job as a caller at `now`. */
export const schedulerAt = (now: Date): Caller => ({ principal: SCHEDULER, requestId: null, now });

/**
 * Subscriptions closed at once: each close is three reads in parallel, then one transaction, so
 * each worker waits on two round trips in turn; 16 keep the store busy (8 left the close at about
 * twice its calls' raw time, bench/close-periods.ts) within the SDK's 50 sockets.
 */
export const CLOSE_CONCURRENCY = 16;

export type CloseReport = {
  /** Where the work list came from: the due index, or every subscription while it fills in. */
  work_list: DueWorkList['source'];
  /**
   * Items the daily check of the complete due index found without their due keys, now fixed: zero
   * unless code that writes none ran (alarmed; docs/invoicing.md, "How the job finds its work").
   */
  due_index_repaired: number;
  subscriptions: number;
  invoices_created: number;
  already_invoiced: number;
  skipped: number;
  /** Subscriptions moved to past_due (an open invoice past its due date) and back to active. */
  past_due: number;
  restored: number;
  /**
   * Subscriptions this run could not close or dun, each with why. Every other subscription was
   * closed: one that fails never stops the run. Each keeps a retry marker (CloseFailuresRepository)
   * until a later close of it succeeds; the next run retries it anyway.
   */
  failed: number;
  failures: { subscription_id: string; reason: string }[];
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
  /** The real time (not the close's `now`): how long the due-index fill-in has run (due-work-list.ts). */
  wallClock: Date = new Date(),
): Promise<CloseReport> {
  const { workList, repaired } = await workListForRun(tableName, wallClock);
  const due = await workList.subscriptionsDue(now);
  const report: CloseReport = {
    work_list: workList.source,
    due_index_repaired: repaired,
    subscriptions: due.length,
    invoices_created: 0,
    already_invoiced: 0,
    skipped: 0,
    past_due: 0,
    restored: 0,
    failed: 0,
    failures: [],
  };
  const markers = new CloseFailuresRepository(tableName);
  // Only to clear markers of subscriptions that close now: a failed read must not stop the run.
  const marked = new Set(
    (
      await markers.list().catch((error: unknown) => {
        logger.error('Could not read the close failure markers; none is cleared this run', { error });
        return [];
      })
    ).map((failure) => failure.subscription_id),
  );
  const failedOn = async (subscriptionId: string, error: unknown) => {
    const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    report.failed++;
    report.failures.push({ subscription_id: subscriptionId, reason });
    logger.error('The period close failed on one subscription; the others go on', {
      subscription_id: subscriptionId,
      error,
    });
    await markers.record(subscriptionId, reason, caller.now).catch((markerError: unknown) =>
      logger.error('Could not keep the close failure marker', {
        subscription_id: subscriptionId,
        markerError,
      }),
    );
  };
  // Many subscriptions share a plan: its fee is read once per run.
  const feesByPlan = new Map<string, Promise<PlanFee>>();
  const planFees: PlanFees = (planId) => {
    let fee = feesByPlan.get(planId);
    if (!fee) {
      fee = getPlanFee(tableName, planId).then(({ fee }) => fee);
      feesByPlan.set(planId, fee);
      fee.catch(() => feesByPlan.delete(planId));
    }
    return fee;
  };
  await runConcurrently(due.length, CLOSE_CONCURRENCY, async (i) => {
    const subscription = due[i]!;
    let outcome: Awaited<ReturnType<typeof closeSubscriptionPeriods>>;
    try {
      outcome = await closeSubscriptionPeriods(tableName, subscription, caller, planFees);
    } catch (error) {
      await failedOn(subscription.id, error);
      return;
    }
    report.invoices_created += outcome.created;
    report.already_invoiced += outcome.already;
    report.skipped += outcome.skipped;
    if (marked.has(subscription.id)) await markers.clear(subscription.id).catch(() => undefined);
  });
  const standing = await markOverdue(tableName, caller, failedOn, workList);
  report.past_due = standing.past_due;
  report.restored = standing.restored;
  return report;
}

type PlanFees = (planId: string) => Promise<PlanFee>;

/**
 * Closes every ended period of one subscription (several if the job did not run for a while), each
 * into its invoice (docs/billing-rules.md): the period's usage, the fee owed for it or prepaid for the
 * next one, the pending items. Also run before any change to a subscription whose period has ended,
 * so a change always applies to the period it happens in.
 */
export async function closeSubscriptionPeriods(
  tableName: string,
  start: Subscription,
  caller: Caller,
  planFees: PlanFees = async (planId) => (await getPlanFee(tableName, planId)).fee,
) {
  const invoices = new InvoicesRepository(tableName);
  const result = { created: 0, already: 0, skipped: 0 };
  let subscription: Subscription | undefined = start;
  while (
    subscription &&
    subscription.status !== 'canceled' &&
    new Date(subscription.current_period_end) <= caller.now
  ) {
    const { invoice, advanced, taken } = await draftFor(tableName, subscription, caller.now, planFees);
    const outcome = await invoices.createDraftAndAdvance(
      invoice,
      advanced,
      subscription.version,
      {
        invoice: auditBy(caller, 'invoice', invoice.id, 'invoice.created', null, invoice),
        subscription: auditBy(
          caller,
          'subscription',
          subscription.id,
          'subscription.period_closed',
          subscription,
          advanced,
        ),
      },
      taken,
    );
    if (outcome === 'created') result.created++;
    else if (outcome === 'already-invoiced') result.already++;
    else result.skipped++;
    if (outcome !== 'created') break;
    subscription = advanced;
  }
  return result;
}

async function draftFor(tableName: string, subscription: Subscription, now: Date, planFees: PlanFees) {
  const [fees, usage, pendingItems] = await Promise.all([
    planFeesFor(
      tableName,
      subscription.items.map((item) => item.plan_id),
      planFees,
    ),
    periodUsage(tableName, subscription.id, subscription.current_period_start),
    new SubscriptionsRepository(tableName).pendingItems(subscription.id),
  ]);
  const { advanced, bill } = closeCurrentPeriod(subscription, fees, now);
  const taken = pendingItemsOfPeriod(pendingItems, subscription.current_period_end);
  const invoice = draftInvoice(
    subscription,
    bill,
    { ...usage, pendingItems: taken, version: advanced.version },
    now,
  );
  return { invoice, advanced, taken };
}
