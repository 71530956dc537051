import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { runConcurrently } from '../concurrency.ts';
import type { Invoice } from '../domain/invoice.ts';
import type { Subscription } from '../domain/subscription.ts';
import { dynamo } from './client.ts';
import { invoiceDueKey } from './invoices-repository.ts';
import { withoutKeys } from './items.ts';
import { byTypePartition, DUE_INDEX_MIGRATION_KEY } from './keys.ts';
import { queryPages } from './list-pages.ts';
import { subscriptionDueKey } from './subscriptions-repository.ts';

/**
 * The due index (GSI3) came after the subscriptions and invoices it indexes: one written before
 * it, or by a Lambda still running the earlier code while a deploy rolls out (or after a rollback),
 * has no due keys, and a work list read from the index would never see it. Until this state says
 * the index is complete, the scheduled job reads its work lists from the by-type index (every item,
 * filtered) and passes over every item to fill the due keys in (shared/use-cases/invoicing/
 * due-work-list.ts says when it is complete, and when a complete index is checked).
 */
export type DueIndexState = {
  /**
   * When the first pass, or the latest run that found an item without its right due keys, began
   * (the service's clock): code without due keys wrote before then, and the drain counts from it.
   */
  started_at: string;
  /** When a whole pass found every item right, late enough that no earlier code could still write; or null. */
  completed_at: string | null;
  /** When a whole pass over the complete index last found every item right; or null. */
  verified_at: string | null;
  /** The pass under way, which a run that ran out of time left for the next: when it began, or null. */
  pass_began_at: string | null;
  /** Where the pass under way goes on (a PassCursor as JSON), or null: the next pass starts anew. */
  pass_cursor: string | null;
  /** When a run last moved the cursor on (the service's clock), or null. */
  pass_moved_at: string | null;
};

/**
 * A cursor no run has moved for this long is dropped and the next pass starts anew: runs were
 * missed (the job failing, or a rollback running code that knows nothing of the cursor and may
 * have written items behind it), so the pass under way can no longer vouch for what it read.
 */
export const PASS_CURSOR_STALE_MS = 2 * 60 * 60 * 1000;

/** The item types a pass reads, in order, each through its by-type partition. */
const PASS_TYPES = ['subscription', 'invoice'] as const;
type PassType = (typeof PASS_TYPES)[number];
/** Where a pass stopped: the type it was reading, and the by-type key to read on after (none: its start). */
type PassCursor = { type: PassType; after?: Record<string, unknown> };

const DUE_KEY_OF: Record<PassType, (item: Record<string, unknown>) => Record<string, string>> = {
  subscription: (item) => subscriptionDueKey(withoutKeys<Subscription>(item)),
  invoice: (item) => invoiceDueKey(withoutKeys<Invoice>(item)),
};

/** Updates of stored items in flight at once while a pass fills due keys in. */
const BACKFILL_CONCURRENCY = 8;

/**
 * How long one run's part of a pass may take before it stops: the close still has to run in the
 * same 15-minute Lambda. Reading is cheap (pages of 1 MB); what takes time is the fixes, written
 * BACKFILL_CONCURRENCY at a time. A run that stops keeps what it fixed and leaves a cursor: the next
 * run goes on from there, so a pass over a table of any size ends after some runs.
 */
export const BACKFILL_BUDGET_MS = 5 * 60 * 1000;

/** What one run's part of a pass did (the caller's object: counts stay true if the run fails midway). */
export type BackfillRun = {
  /** Subscriptions and invoices read. */
  checked: number;
  /** Items whose due keys were missing or stale, now right. */
  fixed: number;
  /** Items found wrong that changed before the fix: someone wrote them, maybe older code. */
  conflicts: number;
  /** True once the pass this run was part of has read every item. */
  finished: boolean;
  /** When the pass this run was part of began. */
  began_at: string | null;
};

export const newBackfillRun = (): BackfillRun => ({
  checked: 0,
  fixed: 0,
  conflicts: 0,
  finished: false,
  began_at: null,
});

export class DueIndexRepository {
  constructor(
    private readonly tableName: string,
    /** Items per by-type page a pass reads; unset, DynamoDB's pages of up to 1 MB. */
    private readonly pageSize?: number,
  ) {}

  async state(): Promise<DueIndexState | undefined> {
    const { Item } = await dynamo().send(
      new GetCommand({ TableName: this.tableName, Key: DUE_INDEX_MIGRATION_KEY, ConsistentRead: true }),
    );
    return Item
      ? {
          started_at: String(Item.started_at),
          completed_at: Item.completed_at ?? null,
          verified_at: Item.verified_at ?? null,
          pass_began_at: Item.pass_began_at ?? null,
          pass_cursor: Item.pass_cursor ?? null,
          pass_moved_at: Item.pass_moved_at ?? null,
        }
      : undefined;
  }

  /** Records the first pass's start, unless a pass already did: returns the state that holds. */
  async begin(at: Date): Promise<DueIndexState> {
    const state: DueIndexState = {
      started_at: at.toISOString(),
      completed_at: null,
      verified_at: null,
      pass_began_at: null,
      pass_cursor: null,
      pass_moved_at: null,
    };
    try {
      await dynamo().send(
        new PutCommand({
          TableName: this.tableName,
          Item: dueIndexStateItem(state),
          ConditionExpression: 'attribute_not_exists(PK)',
        }),
      );
      return state;
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      return (await this.state()) ?? state;
    }
  }

  /**
   * The index is complete as of `at`, verified by the pass that began at `passBeganAt` (what it
   * vouches for is as of its start), unless a run found a wrong item since `seen` was read (it moved
   * started_at) or another run completed it: false then.
   */
  complete(seen: DueIndexState, at: Date, passBeganAt: string): Promise<boolean> {
    return this.setIf(
      'SET completed_at = :at, verified_at = :began',
      'started_at = :started AND (attribute_not_exists(completed_at) OR completed_at = :none)',
      { ':at': at.toISOString(), ':began': passBeganAt, ':started': seen.started_at, ':none': null },
    );
  }

  /**
   * A whole pass over the complete index, begun at `passBeganAt`, found every item right; unless the
   * index was reopened since `seen` was read: false then.
   */
  verified(seen: DueIndexState, passBeganAt: string): Promise<boolean> {
    return this.setIf('SET verified_at = :began', 'started_at = :started AND completed_at = :completed', {
      ':began': passBeganAt,
      ':started': seen.started_at,
      ':completed': seen.completed_at,
    });
  }

  /**
   * A run that began at `at` found an item without its right due keys: code without them wrote it, so
   * the index is not complete (any more) and the drain counts again from `at` (never moved back).
   */
  async restart(at: Date): Promise<void> {
    const reopen = 'SET completed_at = :none, verified_at = :none';
    const values = { ':at': at.toISOString(), ':none': null };
    const movedOn = await this.setIf(`${reopen}, started_at = :at`, 'started_at < :at', values);
    if (!movedOn) await this.setIf(reopen, 'attribute_exists(PK)', { ':none': null });
  }

  /**
   * This run's part of the pass over every subscription and invoice (by-type index): it goes on from
   * `seen`'s cursor (or begins a pass at `at`), and gives each item whose stored due keys are not the
   * ones its fields call for those keys, only if it is still at the version read. Before its first
   * fix it restarts the state (at `at`), so a failure after a fix never hides it. Past `deadline`
   * (epoch milliseconds) it stops at the next page and leaves the cursor for the next run.
   */
  async backfill(seen: DueIndexState, at: Date, deadline: number, run: BackfillRun): Promise<void> {
    const resumed = resumable(seen, at);
    run.began_at = resumed ? seen.pass_began_at! : at.toISOString();
    let restarted: Promise<void> | undefined;
    const stop = async (cursor: PassCursor) => {
      await this.moveCursor(seen.pass_cursor, { cursor: JSON.stringify(cursor), began: run.began_at, at });
    };
    for (
      let t = Math.max(0, PASS_TYPES.indexOf(resumed?.type ?? 'subscription'));
      t < PASS_TYPES.length;
      t++
    ) {
      const type = PASS_TYPES[t]!;
      const dueKeyOf = DUE_KEY_OF[type];
      for await (const page of queryPages({
        TableName: this.tableName,
        IndexName: 'GSI2',
        KeyConditionExpression: 'GSI2PK = :pk',
        ExpressionAttributeValues: { ':pk': byTypePartition(type) },
        ExclusiveStartKey: type === resumed?.type ? resumed.after : undefined,
        ...(this.pageSize ? { Limit: this.pageSize } : {}),
      })) {
        run.checked += page.items.length;
        const wrong = page.items.filter((item) => {
          const due = dueKeyOf(item);
          return item.GSI3PK !== due.GSI3PK || item.GSI3SK !== due.GSI3SK;
        });
        if (wrong.length > 0) {
          restarted ??= this.restart(at);
          await restarted;
        }
        await runConcurrently(wrong.length, BACKFILL_CONCURRENCY, async (i) => {
          const item = wrong[i]!;
          if (await this.setDueKeys(item, dueKeyOf(item))) run.fixed++;
          else run.conflicts++;
        });
        if (page.next && Date.now() > deadline) return stop({ type, after: page.next });
      }
      const nextType = PASS_TYPES[t + 1];
      if (nextType && Date.now() > deadline) return stop({ type: nextType });
    }
    run.finished = true;
    if (seen.pass_cursor) await this.moveCursor(seen.pass_cursor, undefined);
  }

  /**
   * Moves the pass's cursor on from `from` (or clears it: the pass ended), unless another run already
   * moved it (its part counts then).
   */
  private moveCursor(
    from: string | null,
    to: { cursor: string; began: string | null; at: Date } | undefined,
  ): Promise<boolean> {
    return this.setIf(
      'SET pass_cursor = :to, pass_began_at = :began, pass_moved_at = :moved',
      from === null ? 'attribute_not_exists(pass_cursor) OR pass_cursor = :none' : 'pass_cursor = :from',
      {
        ':to': to?.cursor ?? null,
        ':began': to?.began ?? null,
        ':moved': to?.at.toISOString() ?? null,
        ...(from === null ? { ':none': null } : { ':from': from }),
      },
    );
  }

  /** Updates the state item if `condition` holds; false if it did not. */
  private async setIf(update: string, condition: string, values: Record<string, unknown>): Promise<boolean> {
    try {
      await dynamo().send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: DUE_INDEX_MIGRATION_KEY,
          UpdateExpression: update,
          ConditionExpression: condition,
          ExpressionAttributeValues: values,
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  /** Sets (or removes) an item's due keys if it is still at the version read; false if it moved on. */
  private async setDueKeys(item: Record<string, unknown>, due: Record<string, string>): Promise<boolean> {
    const set = due.GSI3PK !== undefined && due.GSI3SK !== undefined;
    try {
      await dynamo().send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { PK: item.PK, SK: item.SK },
          UpdateExpression: set ? 'SET GSI3PK = :pk, GSI3SK = :sk' : 'REMOVE GSI3PK, GSI3SK',
          ConditionExpression: 'version = :version',
          ExpressionAttributeValues: {
            ':version': item.version,
            ...(set ? { ':pk': due.GSI3PK, ':sk': due.GSI3SK } : {}),
          },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }
}

/** Where `seen`'s pass goes on, if a run moved its cursor lately enough to trust it (PASS_CURSOR_STALE_MS). */
function resumable(seen: DueIndexState, at: Date): PassCursor | undefined {
  if (!seen.pass_cursor || !seen.pass_began_at || !seen.pass_moved_at) return undefined;
  if (at.getTime() - Date.parse(seen.pass_moved_at) >= PASS_CURSOR_STALE_MS) return undefined;
  return JSON.parse(seen.pass_cursor);
}

/** The state of an index complete and verified at `at` (a new, empty table's: nothing to fill in). */
export const completeDueIndexState = (at: string): DueIndexState => ({
  started_at: at,
  completed_at: at,
  verified_at: at,
  pass_began_at: null,
  pass_cursor: null,
  pass_moved_at: null,
});

/** The stored state item (also written by local mode when it creates a new, empty table). */
export function dueIndexStateItem(state: DueIndexState): Record<string, unknown> {
  return { ...DUE_INDEX_MIGRATION_KEY, item_type: 'migration', ...state };
}
