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
 * it, or by a Lambda still running the earlier code while a deploy rolls out, has no due keys, and
 * a work list read from the index would never see it. Until this state says the index is complete,
 * the scheduled job reads its work lists from the by-type index (every item, filtered) and fills
 * the due keys in (shared/use-cases/invoicing/due-work-list.ts says when it is complete).
 */
export type DueIndexState = {
  /**
   * When the latest pass that had to fix an item began (the service's clock): code without due keys
   * wrote before then, so the drain time counts from it.
   */
  started_at: string;
  /** When a pass found every item right, late enough that no earlier code could still write; or null. */
  completed_at: string | null;
  /** When a pass over the complete index last found every item right (it is checked daily); or null. */
  verified_at: string | null;
};

/** Updates of stored items in flight at once while a pass fills due keys in. */
const BACKFILL_CONCURRENCY = 8;

/**
 * How long one pass may run before it stops, unfinished: the close still has to run in the same
 * 15-minute Lambda. Reading is cheap (pages of 1 MB); what takes time is the first pass's fixes,
 * BACKFILL_CONCURRENCY writes at a time. A pass that stops keeps what it fixed, an unfinished pass
 * never completes the index, and the next run's pass reads from the beginning again and goes on
 * with what is still missing, so a table too large for one pass is filled in over several runs.
 */
export const BACKFILL_BUDGET_MS = 5 * 60 * 1000;

export type BackfillPass = {
  /** Subscriptions and invoices read. */
  checked: number;
  /** Items whose due keys were missing or stale, now right. */
  fixed: number;
  /** Items changed by someone else between the read and the fix: the next pass looks again. */
  conflicts: number;
  /** False when the pass stopped at its deadline before it had read every item. */
  finished: boolean;
};

export class DueIndexRepository {
  constructor(private readonly tableName: string) {}

  async state(): Promise<DueIndexState | undefined> {
    const { Item } = await dynamo().send(
      new GetCommand({ TableName: this.tableName, Key: DUE_INDEX_MIGRATION_KEY, ConsistentRead: true }),
    );
    return Item
      ? {
          started_at: String(Item.started_at),
          completed_at: Item.completed_at ?? null,
          verified_at: Item.verified_at ?? null,
        }
      : undefined;
  }

  /** Records the first pass's start, unless a pass already did: returns the state that holds. */
  async begin(at: Date): Promise<DueIndexState> {
    const state: DueIndexState = { started_at: at.toISOString(), completed_at: null, verified_at: null };
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

  /** The index is complete (and so verified) as of `at`. */
  async complete(at: Date): Promise<void> {
    await this.set('SET completed_at = :at, verified_at = :at', { ':at': at.toISOString() });
  }

  /** A pass over the complete index found every item right at `at`. */
  async verified(at: Date): Promise<void> {
    await this.set('SET verified_at = :at', { ':at': at.toISOString() });
  }

  /**
   * A pass that began at `at` had to fix items: code without due keys wrote them, so the index is not
   * complete (any more) and the drain time counts again from `at`.
   */
  async restart(at: Date): Promise<void> {
    await this.set('SET started_at = :at, completed_at = :none, verified_at = :none', {
      ':at': at.toISOString(),
      ':none': null,
    });
  }

  private async set(update: string, values: Record<string, unknown>): Promise<void> {
    await dynamo().send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: DUE_INDEX_MIGRATION_KEY,
        UpdateExpression: update,
        ConditionExpression: 'attribute_exists(PK)',
        ExpressionAttributeValues: values,
      }),
    );
  }

  /**
   * One pass over every subscription and invoice (by-type index): each whose stored due keys are not
   * the ones its fields call for gets them, only if it is still at the version read. It stops,
   * unfinished, at the first page boundary past `deadline` (epoch milliseconds).
   */
  async backfill(deadline: number = Date.now() + BACKFILL_BUDGET_MS): Promise<BackfillPass> {
    const pass: BackfillPass = { checked: 0, fixed: 0, conflicts: 0, finished: false };
    const expected: Record<string, (item: Record<string, unknown>) => Record<string, string>> = {
      subscription: (item) => subscriptionDueKey(withoutKeys<Subscription>(item)),
      invoice: (item) => invoiceDueKey(withoutKeys<Invoice>(item)),
    };
    for (const [type, dueKeyOf] of Object.entries(expected)) {
      for await (const page of queryPages({
        TableName: this.tableName,
        IndexName: 'GSI2',
        KeyConditionExpression: 'GSI2PK = :pk',
        ExpressionAttributeValues: { ':pk': byTypePartition(type) },
      })) {
        if (Date.now() > deadline) return pass;
        pass.checked += page.length;
        const stale = page.filter((item) => {
          const due = dueKeyOf(item);
          return item.GSI3PK !== due.GSI3PK || item.GSI3SK !== due.GSI3SK;
        });
        await runConcurrently(stale.length, BACKFILL_CONCURRENCY, async (i) => {
          const item = stale[i]!;
          if (await this.setDueKeys(item, dueKeyOf(item))) pass.fixed++;
          else pass.conflicts++;
        });
      }
    }
    pass.finished = true;
    return pass;
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

/** The stored state item (also written by local mode when it creates a new, empty table). */
export function dueIndexStateItem(state: DueIndexState): Record<string, unknown> {
  return { ...DUE_INDEX_MIGRATION_KEY, item_type: 'migration', ...state };
}
