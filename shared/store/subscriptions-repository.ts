import { randomUUID } from 'node:crypto';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import type { OneTimeCharge } from '../domain/one-time.ts';
import type { PendingItem, Subscription } from '../domain/subscription.ts';
import { liveItems } from '../domain/subscription-items.ts';
import { type AuditDraft, auditPut } from './audit.ts';
import { dynamo } from './client.ts';
import { type IdempotentWrite, idempotencyPut } from './idempotency.ts';
import { withoutKeys } from './items.ts';
import {
  byOwnerKey,
  byTypeKey,
  byTypePartition,
  customerKey,
  dueBy,
  dueKey,
  PENDING_ITEM_SK_PREFIX,
  pendingItemKey,
  planKey,
  subscriptionKey,
  subscriptionsDuePartition,
} from './keys.ts';
import { pageByOwner, pageByType, queryAll } from './list-pages.ts';
import type { Page } from './pagination.ts';
import { type TransactItem, transactWrite } from './transact.ts';

const ITEM_TYPE = 'subscription';

/** A proration (or used time) a change left, or a one-time item added by POST /invoice-items. */
export type StoredPendingItem = (PendingItem | OneTimeCharge) & {
  id: string;
  subscription_id: string;
  customer_id: string;
  created_at: string;
  /** Set by invoicing when the item lands on an invoice. */
  invoice_id: string | null;
};

export type CreateSubscriptionOutcome =
  | { created: true }
  | { created: false; reason: 'no-such-customer' | 'idempotency-key-taken' }
  | { created: false; reason: 'plan-not-active'; planId: string };

export class SubscriptionsRepository {
  constructor(private readonly tableName: string) {}

  /**
   * The subscription, its audit entry, the idempotency record and `extra` (its first invoice),
   * written only if the customer exists and every plan of its items is active at that moment
   * (condition checks in the same transaction).
   */
  async create(
    subscription: Subscription,
    audit: AuditDraft,
    idempotency?: IdempotentWrite,
    extra: TransactItem[] = [],
  ): Promise<CreateSubscriptionOutcome> {
    const key = subscriptionKey(subscription.id);
    const items: TransactItem[] = [
      {
        Put: {
          TableName: this.tableName,
          Item: subscriptionStoreItem(subscription),
          ConditionExpression: 'attribute_not_exists(PK)',
        },
      },
      auditPut(this.tableName, key, audit),
      {
        ConditionCheck: {
          TableName: this.tableName,
          Key: customerKey(subscription.customer_id),
          ConditionExpression: 'attribute_exists(PK)',
        },
      },
      // Every plan it includes must still be active as it is created.
      ...subscription.items.map(
        (item): TransactItem => ({
          ConditionCheck: {
            TableName: this.tableName,
            Key: planKey(item.plan_id),
            ConditionExpression: 'active = :true',
            ExpressionAttributeValues: { ':true': true },
          },
        }),
      ),
      ...(idempotency ? [idempotencyPut(this.tableName, idempotency.claim, idempotency.response)] : []),
      ...extra,
    ];
    const outcome = await transactWrite(items);
    if (outcome.ok) return { created: true };
    const plans = subscription.items.length;
    if (idempotency && outcome.failedConditions.includes(3 + plans))
      return { created: false, reason: 'idempotency-key-taken' };
    if (outcome.failedConditions.includes(2)) return { created: false, reason: 'no-such-customer' };
    const archived = outcome.failedConditions.find((index) => index >= 3 && index < 3 + plans);
    if (archived !== undefined)
      return { created: false, reason: 'plan-not-active', planId: subscription.items[archived - 3]!.plan_id };
    throw new Error(`Subscription ${subscription.id} already exists`);
  }

  /**
   * Replaces the subscription if it is still at `expectedVersion`, with its audit entry, any
   * pending invoice items (each with its own audit entry) and `extra` (an invoice the change
   * drafts), all in one transaction. Returns false when someone else changed it first.
   */
  async update(
    next: Subscription,
    expectedVersion: number,
    audit: AuditDraft,
    pendingItems: PendingItem[],
    pendingItemAudit: (item: StoredPendingItem) => AuditDraft,
    extra: TransactItem[] = [],
  ): Promise<{ updated: boolean; pendingItems: StoredPendingItem[] }> {
    const key = subscriptionKey(next.id);
    const stored = pendingItems.map(
      (item): StoredPendingItem => ({
        ...item,
        id: randomUUID(),
        subscription_id: next.id,
        customer_id: next.customer_id,
        created_at: next.updated_at,
        invoice_id: null,
      }),
    );
    const items: TransactItem[] = [
      {
        Put: {
          TableName: this.tableName,
          Item: subscriptionStoreItem(next),
          ConditionExpression: 'version = :expected',
          ExpressionAttributeValues: { ':expected': expectedVersion },
        },
      },
      auditPut(this.tableName, key, audit),
      ...stored.flatMap((item) => {
        const itemKey = pendingItemKey(next.id, item.created_at, item.id);
        return [
          {
            Put: {
              TableName: this.tableName,
              Item: { ...itemKey, item_type: 'pending_item', ...item },
              ConditionExpression: 'attribute_not_exists(PK)',
            },
          },
          auditPut(this.tableName, itemKey, pendingItemAudit(item)),
        ];
      }),
      ...extra,
    ];
    const outcome = await transactWrite(items);
    return { updated: outcome.ok, pendingItems: outcome.ok ? stored : [] };
  }

  /** A change without pending items (e.g. a status change by the billing job). */
  async replace(next: Subscription, expectedVersion: number, audit: AuditDraft): Promise<boolean> {
    return (await this.update(next, expectedVersion, audit, [], () => audit)).updated;
  }

  async get(subscriptionId: string, consistent = false): Promise<Subscription | undefined> {
    const { Item } = await dynamo().send(
      new GetCommand({
        TableName: this.tableName,
        Key: subscriptionKey(subscriptionId),
        ConsistentRead: consistent,
      }),
    );
    return Item ? storedSubscription(Item) : undefined;
  }

  async listByCustomer(
    customerId: string,
    limit: number,
    cursor: string | undefined,
  ): Promise<Page<Subscription>> {
    const page = await pageByOwner<Subscription>(
      this.tableName,
      customerKey(customerId),
      ITEM_TYPE,
      limit,
      cursor,
    );
    return { ...page, data: page.data.map(storedSubscription) };
  }

  async listAll(limit: number, cursor: string | undefined): Promise<Page<Subscription>> {
    const page = await pageByType<Subscription>(this.tableName, ITEM_TYPE, limit, cursor);
    return { ...page, data: page.data.map(storedSubscription) };
  }

  /**
   * Subscriptions whose current period has ended and are not canceled: the period-close job's work
   * list. Reads only those, from the sparse due index (one query per status not canceled, at once).
   */
  async listDue(now: Date): Promise<Subscription[]> {
    const byStatus = await Promise.all(
      DUE_STATUSES.map((status) =>
        queryAll<Subscription>({
          TableName: this.tableName,
          IndexName: 'GSI3',
          KeyConditionExpression: 'GSI3PK = :pk AND GSI3SK < :by',
          ExpressionAttributeValues: { ':pk': subscriptionsDuePartition(status), ':by': dueBy(now) },
        }),
      ),
    );
    // A subscription that just changed status can, for a moment, be in two partitions (an index
    // moves an item between them eventually): it is closed once, from its newest version read.
    const newest = new Map<string, Subscription>();
    for (const subscription of byStatus.flat()) {
      const seen = newest.get(subscription.id);
      if (!seen || subscription.version > seen.version) newest.set(subscription.id, subscription);
    }
    return [...newest.values()];
  }

  /** Every past_due subscription (the due index's past_due partition): dunning re-checks each. */
  listPastDue(): Promise<Subscription[]> {
    return queryAll<Subscription>({
      TableName: this.tableName,
      IndexName: 'GSI3',
      KeyConditionExpression: 'GSI3PK = :pk',
      ExpressionAttributeValues: { ':pk': subscriptionsDuePartition('past_due') },
    });
  }

  /**
   * listDue from the by-type index with a filter, reading every subscription: the work list until
   * the due index holds every subscription written before it existed (due-index-repository.ts).
   */
  listDueByType(now: Date): Promise<Subscription[]> {
    return queryAll<Subscription>({
      TableName: this.tableName,
      IndexName: 'GSI2',
      KeyConditionExpression: 'GSI2PK = :pk',
      FilterExpression: 'current_period_end <= :now AND #status <> :canceled',
      ExpressionAttributeNames: { '#status': 'status' },
      ExpressionAttributeValues: {
        ':pk': byTypePartition(ITEM_TYPE),
        ':now': now.toISOString(),
        ':canceled': 'canceled',
      },
    });
  }

  /** listPastDue from the by-type index with a filter, for the same migration. */
  listPastDueByType(): Promise<Subscription[]> {
    return queryAll<Subscription>({
      TableName: this.tableName,
      IndexName: 'GSI2',
      KeyConditionExpression: 'GSI2PK = :pk',
      FilterExpression: '#status = :status',
      ExpressionAttributeNames: { '#status': 'status' },
      ExpressionAttributeValues: { ':pk': byTypePartition(ITEM_TYPE), ':status': 'past_due' },
    });
  }

  /** Pending invoice items not yet on an invoice, oldest first. */
  async pendingItems(subscriptionId: string): Promise<StoredPendingItem[]> {
    const items = await queryAll<StoredPendingItem>({
      TableName: this.tableName,
      KeyConditionExpression: 'PK = :pk AND begins_with(SK, :prefix)',
      ExpressionAttributeValues: {
        ':pk': subscriptionKey(subscriptionId).PK,
        ':prefix': PENDING_ITEM_SK_PREFIX,
      },
      ConsistentRead: true,
    });
    return items.filter((item) => item.invoice_id === null);
  }
}

/** Every status but canceled: a subscription in one of them is closed when its period ends. */
const DUE_STATUSES = Object.keys({
  trialing: true,
  active: true,
  past_due: true,
} satisfies Record<Exclude<Subscription['status'], 'canceled'>, true>) as Subscription['status'][];

/** Its due-index keys while it is not canceled (the close's work list), none once it is. */
export function subscriptionDueKey(subscription: Subscription): Record<string, string> {
  if (subscription.status === 'canceled') return {};
  return dueKey(
    subscriptionsDuePartition(subscription.status),
    subscription.current_period_end,
    subscription.id,
  );
}

/** The stored form of a subscription: its keys (table, by customer, by type, due) and its fields. */
export function subscriptionStoreItem(subscription: Subscription): Record<string, unknown> {
  // The base item's fee state at the top level too, where the release before items reads it: rolled
  // back, that release still bills the base plan right (docs/billing-rules.md, "Items"). This one
  // reads `items` only (items.ts hides these).
  const base = liveItems(subscription.items)[0] ?? subscription.items[0];
  return {
    ...subscriptionKey(subscription.id),
    ...byOwnerKey(customerKey(subscription.customer_id), ITEM_TYPE, subscription.created_at, subscription.id),
    ...byTypeKey(ITEM_TYPE, subscription.created_at, subscription.id),
    ...subscriptionDueKey(subscription),
    item_type: ITEM_TYPE,
    ...subscription,
    fee_segment_start: base?.fee_segment_start ?? subscription.current_period_start,
    fee_prepaid: base?.fee_prepaid ?? false,
    billed_fee: base?.billed_fee ?? null,
  };
}

/** A stored subscription; one stored before subscriptions had tax rates uses its customer's (null). */
const storedSubscription = (item: Record<string, unknown>): Subscription => {
  const subscription = withoutKeys<Subscription>(item);
  return { ...subscription, default_tax_rate_ids: subscription.default_tax_rate_ids ?? null };
};
