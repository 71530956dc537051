import { GetCommand } from '@aws-sdk/lib-dynamodb';
import type { DefaultPaymentMethod, PaymentMethod } from '../domain/payment-method.ts';
import { type AuditDraft, auditPut } from './audit.ts';
import { dynamo } from './client.ts';
import { withoutKeys } from './items.ts';
import { byOwnerKey, customerKey, defaultPaymentMethodKey, paymentMethodKey, type TableKey } from './keys.ts';
import { pageByOwner } from './list-pages.ts';
import type { Page } from './pagination.ts';
import { type TransactItem, transactWrite } from './transact.ts';

const ITEM_TYPE = 'payment_method';
const DEFAULT_ITEM_TYPE = 'default_payment_method';

/** A new state of one item and the version it replaces (null: the item must not exist yet). */
export type Versioned<T> = { next: T; expectedVersion: number | null };

export type PaymentMethodChange = {
  method?: Versioned<PaymentMethod> | undefined;
  default?: Versioned<DefaultPaymentMethod> | undefined;
  /** Written to the customer's audit trail (a payment method is part of its customer). */
  audit: AuditDraft;
  /** The idempotency record, when the caller sent a key (idempotencyItems): always last. */
  idempotency?: TransactItem[] | undefined;
};

export type SaveOutcome = 'saved' | 'stale' | 'idempotency-key-taken';

export class PaymentMethodsRepository {
  constructor(private readonly tableName: string) {}

  async get(paymentMethodId: string): Promise<PaymentMethod | undefined> {
    return this.read<PaymentMethod>(paymentMethodKey(paymentMethodId));
  }

  async defaultOf(customerId: string): Promise<DefaultPaymentMethod | undefined> {
    return this.read<DefaultPaymentMethod>(defaultPaymentMethodKey(customerId));
  }

  /**
   * The customer's attached methods, oldest first. GSI1 is eventually consistent: a method attached
   * a moment ago may be missing from a list read at once (GET it by id to be sure).
   */
  listAttached(customerId: string, limit: number, cursor: string | undefined): Promise<Page<PaymentMethod>> {
    return pageByOwner(this.tableName, customerKey(customerId), ITEM_TYPE, limit, cursor, 'attached');
  }

  /**
   * The method and/or the default, the audit entry and the idempotency record: all written, or none.
   * `stale` when an item changed since it was read (read again and retry).
   */
  async save(change: PaymentMethodChange): Promise<SaveOutcome> {
    const items: TransactItem[] = [];
    if (change.method) {
      const { next, expectedVersion } = change.method;
      items.push(
        this.put(
          {
            ...paymentMethodKey(next.id),
            ...byOwnerKey(customerKey(next.customer_id), ITEM_TYPE, next.created_at, next.id),
            item_type: ITEM_TYPE,
            ...next,
          },
          expectedVersion,
        ),
      );
    }
    if (change.default) {
      const { next, expectedVersion } = change.default;
      items.push(
        this.put(
          { ...defaultPaymentMethodKey(next.customer_id), item_type: DEFAULT_ITEM_TYPE, ...next },
          expectedVersion,
        ),
      );
    }
    const customerId = change.method?.next.customer_id ?? change.default?.next.customer_id;
    if (!customerId) throw new Error('A payment method change changes a method or a default');
    items.push(auditPut(this.tableName, customerKey(customerId), change.audit));
    const idempotencyAt = items.length;
    items.push(...(change.idempotency ?? []));
    const outcome = await transactWrite(items);
    if (outcome.ok) return 'saved';
    if (change.idempotency?.length && outcome.failedConditions.includes(idempotencyAt)) {
      return 'idempotency-key-taken';
    }
    return 'stale';
  }

  private put(item: Record<string, unknown>, expectedVersion: number | null): TransactItem {
    return {
      Put: {
        TableName: this.tableName,
        Item: item,
        ...(expectedVersion === null
          ? { ConditionExpression: 'attribute_not_exists(PK)' }
          : {
              ConditionExpression: 'version = :expected',
              ExpressionAttributeValues: { ':expected': expectedVersion },
            }),
      },
    };
  }

  private async read<T>(key: TableKey): Promise<T | undefined> {
    const { Item } = await dynamo().send(
      new GetCommand({ TableName: this.tableName, Key: key, ConsistentRead: true }),
    );
    return Item ? withoutKeys<T>(Item) : undefined;
  }
}
