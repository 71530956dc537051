import type { Invoice } from '../../domain/invoice.ts';
import type { Subscription } from '../../domain/subscription.ts';
import { logger } from '../../logger.ts';
import {
  BACKFILL_BUDGET_MS,
  DueIndexRepository,
  type DueIndexState,
} from '../../store/due-index-repository.ts';
import { InvoicesRepository } from '../../store/invoices-repository.ts';
import { SubscriptionsRepository } from '../../store/subscriptions-repository.ts';

/**
 * How long after the latest pass that had to fix an item the due index can be trusted whole. Code
 * from before the index writes items without due keys only while a deploy rolls out: after it, no
 * Lambda runs that code for longer than its 15-minute limit. A pass that begins an hour after the
 * last one that fixed anything therefore sees every item earlier code wrote; finding them all right,
 * it completes the index.
 */
export const DUE_INDEX_DRAIN_MS = 60 * 60 * 1000;

/**
 * How often a pass checks the complete index. Only code without due keys (a rollback past the
 * release that added the index) can make it miss an item; the check finds such items within a day,
 * fixes them, and sends the job back to the by-type list until the index is complete again.
 */
export const DUE_INDEX_CHECK_MS = 24 * 60 * 60 * 1000;

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

/** This run's work list, and the items a check of the complete index found without their due keys. */
export type RunWorkList = { workList: DueWorkList; repaired: number };

/**
 * The work list for this run: the due index once it is complete. Until then, every item filtered
 * (right whatever the index holds), after a pass that fills in missing due keys; a whole pass that
 * begins DUE_INDEX_DRAIN_MS after the last one that fixed anything, and fixes nothing and meets no
 * concurrent change, completes the index. Any failure here leaves this run on the by-type list:
 * slower, never wrong.
 */
export async function workListForRun(
  tableName: string,
  wallClock: Date,
  passBudgetMs: number = BACKFILL_BUDGET_MS,
): Promise<RunWorkList> {
  const migration = new DueIndexRepository(tableName);
  const byType: RunWorkList = { workList: dueWorkList(tableName, 'by-type'), repaired: 0 };
  try {
    const state = await migration.state();
    if (state?.completed_at) return await checkedIndex(tableName, migration, state, wallClock, passBudgetMs);
    const started = state ?? (await migration.begin(wallClock));
    const pass = await migration.backfill(Date.now() + passBudgetMs);
    const drained = wallClock.getTime() - Date.parse(started.started_at) >= DUE_INDEX_DRAIN_MS;
    const complete = drained && pass.finished && pass.fixed === 0 && pass.conflicts === 0;
    if (complete) await migration.complete(wallClock);
    else if (state && pass.fixed > 0) await migration.restart(wallClock);
    logger.info('Filled in the due index; this run reads every subscription and invoice', {
      ...pass,
      started_at: state && pass.fixed > 0 ? wallClock.toISOString() : started.started_at,
      complete,
    });
  } catch (error) {
    logger.error('Could not fill in the due index; this run reads every subscription and invoice', {
      error,
    });
  }
  return byType;
}

/**
 * The complete index, checked by a pass when DUE_INDEX_CHECK_MS has gone by since the last check.
 * A check that has to fix items reopens the migration: this run and the next ones read by type.
 */
async function checkedIndex(
  tableName: string,
  migration: DueIndexRepository,
  state: DueIndexState,
  wallClock: Date,
  passBudgetMs: number,
): Promise<RunWorkList> {
  const index: RunWorkList = { workList: dueWorkList(tableName, 'due-index'), repaired: 0 };
  const checkedAt = Date.parse(state.verified_at ?? state.completed_at ?? '');
  if (wallClock.getTime() - checkedAt < DUE_INDEX_CHECK_MS) return index;
  const pass = await migration.backfill(Date.now() + passBudgetMs);
  if (pass.fixed > 0) {
    await migration.restart(wallClock);
    logger.error(
      'The complete due index was missing items: code that writes no due keys ran (a rollback past ' +
        'the release that added it?). They are fixed; the job reads every subscription and invoice ' +
        'until the index is complete again',
      { ...pass },
    );
    return { workList: dueWorkList(tableName, 'by-type'), repaired: pass.fixed };
  }
  if (pass.finished && pass.conflicts === 0) await migration.verified(wallClock);
  logger.info('Checked the due index', { ...pass });
  return index;
}
