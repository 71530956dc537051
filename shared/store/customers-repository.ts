import { GetCommand } from '@aws-sdk/lib-dynamodb';
import type { Customer } from '../domain/customer.ts';
import { type AuditDraft, auditPut } from './audit.ts';
import { dynamo } from './client.ts';
import { type IdempotentWrite, idempotencyPut } from './idempotency.ts';
import { withoutKeys } from './items.ts';
import { byTypeKey, customerKey } from './keys.ts';
import { pageByType } from './list-pages.ts';
import type { Page } from './pagination.ts';
import { transactWrite } from './transact.ts';

const ITEM_TYPE = 'customer';

export type CreateCustomerOutcome =
  | { created: true }
  /** The Idempotency-Key was claimed first by another request: replay or refuse it. */
  | { created: false; reason: 'idempotency-key-taken' };

export class CustomersRepository {
  constructor(private readonly tableName: string) {}

  /** Customer, audit entry and idempotency record: all written, or none. */
  async create(
    customer: Customer,
    audit: AuditDraft,
    idempotency?: IdempotentWrite,
  ): Promise<CreateCustomerOutcome> {
    const key = customerKey(customer.id);
    const items = [
      {
        Put: {
          TableName: this.tableName,
          Item: {
            ...key,
            ...byTypeKey(ITEM_TYPE, customer.created_at, customer.id),
            item_type: ITEM_TYPE,
            ...customer,
          },
          ConditionExpression: 'attribute_not_exists(PK)',
        },
      },
      auditPut(this.tableName, key, audit),
      ...(idempotency ? [idempotencyPut(this.tableName, idempotency.claim, idempotency.response)] : []),
    ];
    const outcome = await transactWrite(items);
    if (outcome.ok) return { created: true };
    if (idempotency && outcome.failedConditions.includes(2))
      return { created: false, reason: 'idempotency-key-taken' };
    // A random UUID collided with an existing customer: astronomically unlikely, never silently overwritten.
    throw new Error(`Customer ${customer.id} already exists`);
  }

  /**
   * Stores the Stripe customer mirroring ours, once: only while none is stored (a concurrent link
   * keeps the first). Returns the id that is stored afterwards.
   */
  async linkStripeCustomer(linked: Customer, audit: AuditDraft): Promise<string> {
    const key = customerKey(linked.id);
    const outcome = await transactWrite([
      {
        Update: {
          TableName: this.tableName,
          Key: key,
          UpdateExpression: 'SET stripe_customer_id = :stripe, updated_at = :at, version = :version',
          ConditionExpression: 'attribute_exists(PK) AND stripe_customer_id = :none',
          ExpressionAttributeValues: {
            ':stripe': linked.stripe_customer_id,
            ':at': linked.updated_at,
            ':version': linked.version,
            ':none': null,
          },
        },
      },
      auditPut(this.tableName, key, audit),
    ]);
    if (outcome.ok && linked.stripe_customer_id) return linked.stripe_customer_id;
    const stored = (await this.get(linked.id, true))?.stripe_customer_id;
    if (!stored) throw new Error(`Customer ${linked.id} could not be linked to Stripe`);
    return stored;
  }

  async get(customerId: string, consistent = false): Promise<Customer | undefined> {
    const { Item } = await dynamo().send(
      new GetCommand({ TableName: this.tableName, Key: customerKey(customerId), ConsistentRead: consistent }),
    );
    return Item ? toCustomer(Item) : undefined;
  }

  /** Every customer, oldest first, for operators. */
  list(limit: number, cursor: string | undefined): Promise<Page<Customer>> {
    return pageByType(this.tableName, ITEM_TYPE, limit, cursor);
  }
}

const toCustomer = (item: Record<string, unknown>): Customer => withoutKeys<Customer>(item);
