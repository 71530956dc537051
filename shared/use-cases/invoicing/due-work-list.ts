import type { Invoice } from '../../domain/invoice.ts';
import type { Subscription } from '../../domain/subscription.ts';
import { logger } from '../../logger.ts';
import {
  BACKFILL_BUDGET_MS,
  DueIndexRepository,
  type DueIndexState,
  newBackfillRun,
} from '../../store/due-index-repository.ts';
import { InvoicesRepository } from '../../store/invoices-repository.ts';
import { SubscriptionsRepository } from '../../store/subscriptions-repository.ts';

/**
 * How long after the latest run that had to fix an item the due index can be trusted whole. Code
 * from before the index writes items without due keys only while a deploy rolls out: the close
 * Lambda's old runs end within 15 minutes of its swap (which came before the first new-code run),
 * every other function's within a minute of its own. So if the whole stack runs the new code within
 * about 45 minutes of the first new-code close run (one uninterrupted deploy), a pass that begins
 * this long after the last run that fixed anything (the next hourly run, whatever its jitter) sees
 * every item earlier code wrote; finding them all right, it completes the index.
 */
export const DUE_INDEX_DRAIN_MS = 50 * 60 * 1000;

/**
 * How often a pass checks the complete index, less a margin for the hourly schedule's drift. Only
 * code that writes no due keys (a rollback past the release that added the index) can make it miss
 * an item; the check finds such items within a day (and the pass's length), fixes them, and sends
 * the job back to the by-type list until the index is complete again.
 */
export const DUE_INDEX_CHECK_MS = 24 * 60 * 60 * 1000 - 10 * 60 * 1000;

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
 * (right whatever the index holds), after this run's part of a pass that fills in missing due keys;
 * a whole pass that begins DUE_INDEX_DRAIN_MS after the last run that fixed anything, and finds
 * nothing to fix, completes the index. A complete index is checked by a pass every
 * DUE_INDEX_CHECK_MS: a check that finds anything to fix reopens it. Any failure here leaves this
 * run on the by-type list: slower, never wrong.
 */
export async function workListForRun(
  tableName: string,
  wallClock: Date,
  passBudgetMs: number = BACKFILL_BUDGET_MS,
): Promise<RunWorkList> {
  const migration = new DueIndexRepository(tableName);
  const index = dueWorkList(tableName, 'due-index');
  const byType = dueWorkList(tableName, 'by-type');
  const run = newBackfillRun();
  const wrong = () => run.fixed + run.conflicts;
  let checking = false;
  try {
    const state = (await migration.state()) ?? (await migration.begin(wallClock));
    checking = state.completed_at !== null;
    if (checking && !checkDue(state, wallClock)) return { workList: index, repaired: 0 };
    await migration.backfill(state, wallClock, Date.now() + passBudgetMs, run);
    if (checking) {
      if (wrong() > 0) {
        logger.error(
          'The complete due index was missing items: code that writes no due keys ran (a rollback ' +
            'past the release that added it?). They are fixed; the job reads every subscription and ' +
            'invoice until the index is complete again',
          { ...run },
        );
        return { workList: byType, repaired: wrong() };
      }
      // Refused: a concurrent run reopened the index; this one does not trust it either.
      if (run.finished && !(await migration.verified(state, run.began_at!))) {
        return { workList: byType, repaired: 0 };
      }
      logger.info('Checked the due index', { ...run });
      return { workList: index, repaired: 0 };
    }
    const drained = Date.parse(run.began_at ?? '') - Date.parse(state.started_at) >= DUE_INDEX_DRAIN_MS;
    const complete =
      run.finished && wrong() === 0 && drained && (await migration.complete(state, wallClock, run.began_at!));
    logger.info('Filled in the due index; this run reads every subscription and invoice', {
      ...run,
      started_at: state.started_at,
      complete,
    });
  } catch (error) {
    logger.error('Could not fill in the due index; this run reads every subscription and invoice', {
      error,
      ...run,
    });
  }
  return { workList: byType, repaired: checking ? wrong() : 0 };
}

/** Whether a complete index is due a check: a pass is under way, or the last check is old enough. */
function checkDue(state: DueIndexState, wallClock: Date): boolean {
  if (state.pass_cursor !== null) return true;
  const checkedAt = Date.parse(state.verified_at ?? state.completed_at ?? '');
  // An unreadable time (NaN) counts as due: a check too many costs a pass, one too few trusts blindly.
  return Number.isNaN(checkedAt) || wallClock.getTime() - checkedAt >= DUE_INDEX_CHECK_MS;
}
