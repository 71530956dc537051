import type { Invoice } from '../../domain/invoice.ts';
import type { Caller } from '../../domain/principal.ts';
import { canTransition, nextStatus, type Subscription } from '../../domain/subscription.ts';
import { auditBy } from '../../store/audit.ts';
import { InvoicesRepository } from '../../store/invoices-repository.ts';
import { SubscriptionsRepository } from '../../store/subscriptions-repository.ts';
import { LOST_RACE, retryOnLostRace } from '../optimistic.ts';
import type { DueWorkList } from './due-work-list.ts';

/**
 * A subscription is past_due while it has an open invoice past its due date, and active again once
 * it has none. Returns the new status when it changed.
 */
export async function reconcileStanding(
  tableName: string,
  subscriptionId: string,
  caller: Caller,
): Promise<Subscription['status'] | undefined> {
  const subscriptions = new SubscriptionsRepository(tableName);
  return retryOnLostRace(
    3,
    async () => {
      const current = await subscriptions.get(subscriptionId, true);
      if (!current) return undefined;
      const overdue = await stillOverdue(tableName, current, caller.now);
      const action = overdue.length > 0 ? 'payment_failed' : 'payment_succeeded';
      if (!canTransition(current.status, action)) return undefined;
      const status = nextStatus(current.status, action);
      if (status === current.status) return undefined;
      const next: Subscription = {
        ...current,
        status,
        updated_at: caller.now.toISOString(),
        version: current.version + 1,
      };
      const updated = await subscriptions.replace(
        next,
        current.version,
        auditBy(caller, 'subscription', current.id, `subscription.${status}`, current, next),
      );
      return updated ? status : LOST_RACE;
    },
    () => undefined,
  );
}

/**
 * The subscription's invoices past their due date and still unpaid. The index that finds them is
 * eventually consistent, so each candidate is read again (strongly) before it counts: an invoice
 * paid a moment ago must not put its subscription in past_due.
 */
async function stillOverdue(tableName: string, subscription: Subscription, now: Date): Promise<Invoice[]> {
  const repository = new InvoicesRepository(tableName);
  const candidates = await repository.overdueOf(subscription.customer_id, subscription.id, now);
  const fresh = await Promise.all(candidates.map((invoice) => repository.get(invoice.id)));
  return fresh.filter(
    (invoice): invoice is Invoice =>
      invoice !== undefined &&
      invoice.status === 'open' &&
      invoice.amount_due > 0 &&
      invoice.due_date !== null &&
      invoice.due_date <= now.toISOString(),
  );
}

/**
 * The dunning half of the scheduled job: subscriptions with an invoice past its due date become
 * past_due, and past_due ones with nothing overdue left (paid meanwhile) become active again.
 */
export async function markOverdue(
  tableName: string,
  caller: Caller,
  /** Told of a subscription whose standing could not be re-checked; the others still are. */
  failedOn: (subscriptionId: string, error: unknown) => Promise<void>,
  /** Where this run reads overdue invoices and past_due subscriptions (due-work-list.ts). */
  workList: DueWorkList,
): Promise<{ past_due: number; restored: number }> {
  const [overdue, pastDue] = await Promise.all([
    workList.overdueInvoices(caller.now),
    workList.pastDueSubscriptions(),
  ]);
  // A one-off invoice belongs to no subscription: left unpaid it is dunned by no subscription's
  // standing (the gateway keeps serving; docs/billing-rules.md, "One-time purchases").
  const overdueOfSubscriptions = overdue.flatMap((i) =>
    i.subscription_id === null ? [] : [i.subscription_id],
  );
  const ids = new Set([...overdueOfSubscriptions, ...pastDue.map((s) => s.id)]);
  const report = { past_due: 0, restored: 0 };
  for (const id of ids) {
    let status: Awaited<ReturnType<typeof reconcileStanding>>;
    try {
      status = await reconcileStanding(tableName, id, caller);
    } catch (error) {
      await failedOn(id, error);
      continue;
    }
    if (status === 'past_due') report.past_due++;
    if (status === 'active') report.restored++;
  }
  return report;
}
