import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { type CreditBalances, type Customer, randomInvoicePrefix } from '../domain/customer.ts';
import type { Caller } from '../domain/principal.ts';
import { type AuditDraft, auditBy, auditPut } from './audit.ts';
import { dynamo } from './client.ts';
import { type IdempotentWrite, idempotencyPut } from './idempotency.ts';
import { withoutKeys } from './items.ts';
import {
  byTypeKey,
  CREDIT_BALANCE_SK_PREFIX,
  creditBalanceKey,
  customerKey,
  invoicePrefixKey,
} from './keys.ts';
import { pageByType } from './list-pages.ts';
import type { Page } from './pagination.ts';
import { type TransactItem, transactWrite } from './transact.ts';

/** A new prefix is drawn this many times if the drawn one is taken (each draw: 1 in 10^12). */
export const PREFIX_DRAWS = 5;

/** A customer's credit in one currency as stored: `version` guards every change. */
export type StoredCreditBalance = { currency: string; amount: number; version: number };

const ITEM_TYPE = 'customer';

export type CreateCustomerOutcome =
  | { created: true }
  /** The Idempotency-Key was claimed first by another request: replay or refuse it. */
  | { created: false; reason: 'idempotency-key-taken' }
  /** Another customer holds this invoice prefix: draw another. */
  | { created: false; reason: 'prefix-taken' };

export class CustomersRepository {
  constructor(private readonly tableName: string) {}

  /**
   * Customer, audit entry, idempotency record and the claim of the customer's invoice prefix: all
   * written, or none. `prefix-taken` when another customer holds the prefix (draw another).
   */
  async create(
    customer: Customer & { invoice_prefix: string },
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
      this.prefixClaim(customer.invoice_prefix, customer.id),
    ];
    const outcome = await transactWrite(items);
    if (outcome.ok) return { created: true };
    if (idempotency && outcome.failedConditions.includes(2))
      return { created: false, reason: 'idempotency-key-taken' };
    if (outcome.failedConditions.includes(items.length - 1))
      return { created: false, reason: 'prefix-taken' };
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
          // One more than whatever version is stored now: a change written since the read (its tax
          // rates) keeps its own version, and If-Match sees this one as another.
          UpdateExpression: 'SET stripe_customer_id = :stripe, updated_at = :at, version = version + :one',
          ConditionExpression: 'attribute_exists(PK) AND stripe_customer_id = :none',
          ExpressionAttributeValues: {
            ':stripe': linked.stripe_customer_id,
            ':at': linked.updated_at,
            ':one': 1,
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

  private prefixClaim(prefix: string, customerId: string): TransactItem {
    return {
      Put: {
        TableName: this.tableName,
        Item: { ...invoicePrefixKey(prefix), item_type: 'invoice_prefix', prefix, customer_id: customerId },
        ConditionExpression: 'attribute_not_exists(PK)',
      },
    };
  }

  /**
   * The customer's invoice prefix, taken now if it has none (a customer created before prefixes
   * existed): the claim and the customer change in one transaction, so each prefix has one holder.
   */
  async ensureInvoicePrefix(
    customerId: string,
    audit: (before: Customer, after: Customer) => AuditDraft,
    drawPrefix: () => string = randomInvoicePrefix,
  ): Promise<string> {
    for (let draw = 1; draw <= PREFIX_DRAWS; draw++) {
      const customer = await this.get(customerId, true);
      if (!customer) throw new Error(`Customer ${customerId} does not exist`);
      if (customer.invoice_prefix) return customer.invoice_prefix;
      const prefix = drawPrefix();
      const after: Customer = { ...customer, invoice_prefix: prefix };
      const key = customerKey(customerId);
      const outcome = await transactWrite([
        {
          Update: {
            TableName: this.tableName,
            Key: key,
            UpdateExpression: 'SET invoice_prefix = :prefix',
            ConditionExpression:
              'attribute_exists(PK) AND (attribute_not_exists(invoice_prefix) OR invoice_prefix = :none)',
            ExpressionAttributeValues: { ':prefix': prefix, ':none': null },
          },
        },
        this.prefixClaim(prefix, customerId),
        auditPut(this.tableName, key, audit(customer, after)),
      ]);
      if (outcome.ok) return prefix;
    }
    throw new Error(`Customer ${customerId} could not be given an invoice prefix`);
  }

  /** The customer's credit in one currency (strongly consistent); undefined when it never had any. */
  async creditBalance(customerId: string, currency: string): Promise<StoredCreditBalance | undefined> {
    const { Item } = await dynamo().send(
      new GetCommand({
        TableName: this.tableName,
        Key: creditBalanceKey(customerId, currency),
        ConsistentRead: true,
      }),
    );
    return Item ? { currency, amount: Number(Item.amount), version: Number(Item.version) } : undefined;
  }

  /** Every currency the customer holds credit in (zero balances included: they were used up). */
  async creditBalances(customerId: string): Promise<CreditBalances> {
    const { Items = [] } = await dynamo().send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'PK = :pk AND begins_with(SK, :prefix)',
        ExpressionAttributeValues: { ':pk': customerKey(customerId).PK, ':prefix': CREDIT_BALANCE_SK_PREFIX },
        ConsistentRead: true,
      }),
    );
    return Object.fromEntries(Items.map((item) => [String(item.currency), Number(item.amount)]));
  }

  async get(customerId: string, consistent = false): Promise<Customer | undefined> {
    const { Item } = await dynamo().send(
      new GetCommand({ TableName: this.tableName, Key: customerKey(customerId), ConsistentRead: consistent }),
    );
    return Item ? toCustomer(Item) : undefined;
  }

  /** Every customer, oldest first, for operators. */
  async list(limit: number, cursor: string | undefined): Promise<Page<Customer>> {
    const page = await pageByType<Customer>(this.tableName, ITEM_TYPE, limit, cursor);
    return { ...page, data: page.data.map((customer) => toCustomer(customer)) };
  }

  /** Writes the customer's new tax rates if it is still at the version read; false if it is not. */
  async updateTaxRates(before: Customer, after: Customer, audit: AuditDraft): Promise<boolean> {
    const key = customerKey(before.id);
    const outcome = await transactWrite([
      {
        Update: {
          TableName: this.tableName,
          Key: key,
          UpdateExpression: 'SET tax_rate_ids = :rates, updated_at = :at, version = :next',
          ConditionExpression: 'attribute_exists(PK) AND version = :version',
          ExpressionAttributeValues: {
            ':rates': after.tax_rate_ids,
            ':at': after.updated_at,
            ':next': after.version,
            ':version': before.version,
          },
        },
      },
      auditPut(this.tableName, key, audit),
    ]);
    return outcome.ok;
  }
}

/** A stored customer; one stored before customers had tax rates has none. */
function toCustomer(item: Record<string, unknown>): Customer {
  const stored = withoutKeys<Omit<Customer, 'tax_rate_ids'> & { tax_rate_ids?: string[] }>(item);
  return { ...stored, tax_rate_ids: stored.tax_rate_ids ?? [] };
}

/**
 * The items that move a customer's credit in `currency` from what was read (`before`; undefined: no
 * balance yet) to `amount`, conditioned on that read, with the audit entry in the customer's trail:
 * for a transaction of the change that moves it (a finalized or voided invoice).
 */
export function creditBalanceChange(
  tableName: string,
  customerId: string,
  currency: string,
  before: StoredCreditBalance | undefined,
  amount: number,
  audit: AuditDraft,
): TransactItem[] {
  const version = (before?.version ?? 0) + 1;
  return [
    {
      Put: {
        TableName: tableName,
        Item: {
          ...creditBalanceKey(customerId, currency),
          item_type: 'credit_balance',
          customer_id: customerId,
          currency,
          amount,
          version,
          updated_at: audit.at,
        },
        ...stillAsRead(before),
      },
    },
    auditPut(tableName, customerKey(customerId), audit),
  ];
}

/**
 * creditBalanceChange with its `customer.credit_balance_changed` audit entry, by `caller`, naming what
 * moved it (`cause`: an invoice, a credit note, a refund): the one way the use cases move a balance.
 */
export function creditBalanceMove(
  tableName: string,
  caller: Caller,
  customerId: string,
  currency: string,
  before: StoredCreditBalance | undefined,
  after: number,
  cause: Readonly<Record<string, string>>,
): TransactItem[] {
  return creditBalanceChange(
    tableName,
    customerId,
    currency,
    before,
    after,
    auditBy(
      caller,
      'customer',
      customerId,
      'customer.credit_balance_changed',
      { currency, amount: before?.amount ?? 0 },
      { currency, amount: after, ...cause },
    ),
  );
}

/** A check, for a transaction that relies on it, that the customer's credit in `currency` is still as read. */
export function creditBalanceUnchanged(
  tableName: string,
  customerId: string,
  currency: string,
  read: StoredCreditBalance | undefined,
): TransactItem {
  return {
    ConditionCheck: {
      TableName: tableName,
      Key: creditBalanceKey(customerId, currency),
      ...stillAsRead(read),
    },
  };
}

/** The condition that a credit balance is still the one read (`undefined`: that there is none yet). */
const stillAsRead = (read: StoredCreditBalance | undefined) =>
  read
    ? { ConditionExpression: 'version = :read', ExpressionAttributeValues: { ':read': read.version } }
    : { ConditionExpression: 'attribute_not_exists(PK)' };
