import type { Invoice } from '../../domain/invoice.ts';
import type { Subscription } from '../../domain/subscription.ts';
import { logger } from '../../logger.ts';
import { DueIndexRepository } from '../../store/due-index-repository.ts';
import { InvoicesRepository } from '../../store/invoices-repository.ts';
import { SubscriptionsRepository } from '../../store/subscriptions-repository.ts';

/**
 * How long after the first fill-in pass began the due index can be trusted whole. Code from before
 * the index writes items without due keys only while a deploy rolls out: after it, no Lambda runs
 * that code for longer than its 15-minute limit. A pass that begins an hour after the first one
 * began therefore sees every item any earlier code wrote; finding them all right, it completes.
 */
export const DUE_INDEX_DRAIN_MS = 60 * 60 * 1000;

/** Where the scheduled job reads what is due: the sparse due index, or every item filtered. */
export type DueWorkList = {
  source: 'due-index' | 'by-type';
  subscriptionsDue(now: Date): Promise<Subscription[]>;
  pastDueSubscriptions(): Promise<Subscription[]>;
  overdueInvoices(now: Date): Promise<Invoice[]>;
};

export function dueWorkList(tableName: string, source: DueWorkList['source']): DueWorkList {
  const subscriptions = new SubscriptionsRepository(tableName);
  const invoices = new InvoicesRepository(tableName);
  return source === 'due-index'
    ? {
        source,
        subscriptionsDue: (now) => subscriptions.listDue(now),
        pastDueSubscriptions: () => subscriptions.listPastDue(),
        overdueInvoices: (now) => invoices.listOverdue(now),
      }
    : {
        source,
        subscriptionsDue: (now) => subscriptions.listDueByType(now),
        pastDueSubscriptions: () => subscriptions.listPastDueByType(),
        overdueInvoices: (now) => invoices.listOverdueByType(now),
      };
}

/**
 * The work list for this run: the due index once it is complete. Until then, every item filtered
 * (right whatever the index holds), after a pass that fills in missing due keys; a pass that begins
 * DUE_INDEX_DRAIN_MS after the first one and finds nothing changed under it completes the index.
 * Any failure here leaves this run on the by-type list: slower, never wrong.
 */
export async function workListForRun(tableName: string, wallClock: Date): Promise<DueWorkList> {
  const migration = new DueIndexRepository(tableName);
  try {
    const state = await migration.state();
    if (state?.completed_at) return dueWorkList(tableName, 'due-index');
    const started = state ?? (await migration.begin(wallClock));
    const pass = await migration.backfill();
    const drained = wallClock.getTime() - Date.parse(started.started_at) >= DUE_INDEX_DRAIN_MS;
    const complete = drained && pass.conflicts === 0;
    if (complete) await migration.complete(wallClock);
    logger.info('Filled in the due index; this run reads every subscription and invoice', {
      ...pass,
      started_at: started.started_at,
      complete,
    });
  } catch (error) {
    logger.error('Could not fill in the due index; this run reads every subscription and invoice', {
      error,
    });
  }
  return dueWorkList(tableName, 'by-type');
}
