import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { type AuditDraft, auditPut } from './audit.ts';
import { dynamo } from './client.ts';
import { type IdempotentWrite, idempotencyPut } from './idempotency.ts';
import { withoutKeys } from './items.ts';
import { invoiceItemLocatorKey, PENDING_ITEM_SK_PREFIX, pendingItemKey, subscriptionKey } from './keys.ts';
import { decodeCursor, encodeCursor, type Page } from './pagination.ts';
import type { StoredPendingItem } from './subscriptions-repository.ts';
import { type TransactItem, transactWrite } from './transact.ts';

export type AddItemOutcome = 'added' | 'subscription-changed' | 'idempotency-key-taken';

/**
 * Invoice items added through the API (POST /invoice-items): pending items of a subscription, the
 * same items prorations are (taken by its next invoice), plus a locator so `/invoice-items/{id}`
 * finds one by its id alone.
 */
export class InvoiceItemsRepository {
  constructor(private readonly tableName: string) {}

  /**
   * The item, its locator, its audit entry (in the subscription's trail) and the idempotency record,
   * in one transaction, only if the subscription is still the version that was read, which the item
   * moves on by one: a change that lands meanwhile (a period close, a cancel) is retried on a fresh
   * read, so an item never joins a period that has closed or a subscription that has ended, and a
   * close or cancel that read the pending items before the item fails and reads them again.
   */
  async add(
    item: StoredPendingItem,
    subscriptionVersion: number,
    audit: AuditDraft,
    idempotency?: IdempotentWrite,
  ): Promise<AddItemOutcome> {
    const key = pendingItemKey(item.subscription_id, item.created_at, item.id);
    const items: TransactItem[] = [
      {
        // The subscription moves to a new version with the item: a close or cancel that read its
        // pending items before this write fails its version condition and reads them again, so no
        // invoice drafted from an older read can leave the item behind.
        Update: {
          TableName: this.tableName,
          Key: subscriptionKey(item.subscription_id),
          UpdateExpression: 'SET version = :next, updated_at = :at',
          ConditionExpression: 'version = :version',
          ExpressionAttributeValues: {
            ':version': subscriptionVersion,
            ':next': subscriptionVersion + 1,
            ':at': item.created_at,
          },
        },
      },
      {
        Put: {
          TableName: this.tableName,
          Item: { ...key, item_type: 'pending_item', ...item },
          ConditionExpression: 'attribute_not_exists(PK)',
        },
      },
      {
        Put: {
          TableName: this.tableName,
          Item: {
            ...invoiceItemLocatorKey(item.id),
            item_type: 'invoice_item_locator',
            subscription_id: item.subscription_id,
            created_at: item.created_at,
          },
          ConditionExpression: 'attribute_not_exists(PK)',
        },
      },
      auditPut(this.tableName, key, audit),
      ...(idempotency ? [idempotencyPut(this.tableName, idempotency.claim, idempotency.response)] : []),
    ];
    const outcome = await transactWrite(items);
    if (outcome.ok) return 'added';
    if (idempotency && outcome.failedConditions.includes(items.length - 1)) return 'idempotency-key-taken';
    if (outcome.failedConditions.includes(0)) return 'subscription-changed';
    throw new Error(
      `Adding invoice item ${item.id} failed conditions ${outcome.failedConditions.join(', ')}`,
    );
  }

  /** The item added as `itemId`, read strongly; undefined when there is none (or it was deleted). */
  async get(itemId: string): Promise<StoredPendingItem | undefined> {
    const { Item: locator } = await dynamo().send(
      new GetCommand({ TableName: this.tableName, Key: invoiceItemLocatorKey(itemId), ConsistentRead: true }),
    );
    if (typeof locator?.subscription_id !== 'string' || typeof locator.created_at !== 'string')
      return undefined;
    const { Item } = await dynamo().send(
      new GetCommand({
        TableName: this.tableName,
        Key: pendingItemKey(locator.subscription_id, locator.created_at, itemId),
        ConsistentRead: true,
      }),
    );
    return Item ? withoutKeys<StoredPendingItem>(Item) : undefined;
  }

  /**
   * Deletes a pending item with its locator, with an audit entry, only while no invoice has taken it.
   * False when an invoice took it (or it was deleted) meanwhile.
   */
  async delete(item: StoredPendingItem, audit: AuditDraft): Promise<boolean> {
    const key = pendingItemKey(item.subscription_id, item.created_at, item.id);
    const outcome = await transactWrite([
      {
        Delete: {
          TableName: this.tableName,
          Key: key,
          ConditionExpression:
            'attribute_exists(PK) AND (attribute_not_exists(invoice_id) OR invoice_id = :none)',
          ExpressionAttributeValues: { ':none': null },
        },
      },
      { Delete: { TableName: this.tableName, Key: invoiceItemLocatorKey(item.id) } },
      auditPut(this.tableName, key, audit),
    ]);
    return outcome.ok;
  }

  /** One page of a subscription's invoice items (prorations too), oldest first, invoiced ones included. */
  async listOfSubscription(
    subscriptionId: string,
    limit: number,
    cursor: string | undefined,
  ): Promise<Page<StoredPendingItem>> {
    const partition = subscriptionKey(subscriptionId).PK;
    const { Items, LastEvaluatedKey } = await dynamo().send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'PK = :pk AND begins_with(SK, :prefix)',
        ExpressionAttributeValues: { ':pk': partition, ':prefix': PENDING_ITEM_SK_PREFIX },
        ConsistentRead: true,
        Limit: limit,
        ExclusiveStartKey: decodeCursor(cursor, {
          attribute: 'PK',
          value: partition,
          prefix: PENDING_ITEM_SK_PREFIX,
        }),
      }),
    );
    return {
      data: (Items ?? []).map((item) => withoutKeys<StoredPendingItem>(item)),
      next_cursor: encodeCursor(LastEvaluatedKey),
    };
  }
}
