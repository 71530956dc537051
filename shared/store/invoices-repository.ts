import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import type { Invoice } from '../domain/invoice.ts';
import { untaxed } from '../domain/invoice-tax.ts';
import type { Subscription } from '../domain/subscription.ts';
import { USAGE_SHARDS } from '../domain/usage.ts';
import { type AuditDraft, auditPut } from './audit.ts';
import { dynamo } from './client.ts';
import { withoutKeys } from './items.ts';
import {
  byOwnerKey,
  byOwnerPartition,
  byOwnerPrefix,
  byTypeKey,
  byTypePartition,
  customerKey,
  dueBy,
  dueKey,
  INVOICES_DUE_PARTITION,
  invoiceCounterKey,
  invoiceKey,
  invoicePaymentKey,
  pendingItemKey,
  periodClosedKey,
  subscriptionKey,
  type TableKey,
} from './keys.ts';
import { pageByOwner, pageByType, queryAll } from './list-pages.ts';
import type { Page } from './pagination.ts';
import { type StoredPendingItem, subscriptionStoreItem } from './subscriptions-repository.ts';
import { type TransactItem, transactWrite } from './transact.ts';

const ITEM_TYPE = 'invoice';

export type PaymentRecord = {
  id: string;
  invoice_id: string;
  customer_id: string;
  amount: number;
  currency: string;
  /** `none`: an invoice with nothing due, settled without collecting. */
  method: 'stripe' | 'out_of_band' | 'none';
  stripe_payment_intent_id: string | null;
  received_at: string;
  /**
   * False for money Stripe collected that could not settle the invoice (it was paid otherwise,
   * voided meanwhile, or the amount differs): kept for finance to refund or apply by hand.
   */
  applied: boolean;
  /** Why an unapplied payment was not applied; null when applied. */
  unapplied_reason: string | null;
  /** What refunds of it have taken (pending or succeeded); absent until one does. */
  amount_refunded?: number;
};

export type CloseOutcome = 'created' | 'already-invoiced' | 'subscription-changed';

export class InvoicesRepository {
  constructor(private readonly tableName: string) {}

  /**
   * The items that write a new draft invoice for a transaction of the change that drafts it: the
   * invoice (only if its id is new: a moment is invoiced once), its audit entry, and the pending
   * items it takes, each marked with the invoice only if no other invoice took it first.
   */
  draftItems(invoice: Invoice, audit: AuditDraft, taken: readonly StoredPendingItem[]): TransactItem[] {
    return [
      {
        Put: {
          TableName: this.tableName,
          Item: invoiceStoreItem(invoice),
          ConditionExpression: 'attribute_not_exists(PK)',
        },
      },
      auditPut(this.tableName, invoiceKey(invoice.id), audit),
      ...taken.map((item) => this.takePendingItem(item, invoice.id)),
    ];
  }

  private takePendingItem(item: StoredPendingItem, invoiceId: string): TransactItem {
    return {
      Update: {
        TableName: this.tableName,
        Key: pendingItemKey(item.subscription_id, item.created_at, item.id),
        UpdateExpression: 'SET invoice_id = :invoice',
        ConditionExpression:
          'attribute_exists(PK) AND (attribute_not_exists(invoice_id) OR invoice_id = :none)',
        ExpressionAttributeValues: { ':invoice': invoiceId, ':none': null },
      },
    };
  }

  /**
   * Closes one period: the draft invoice is created only if that period has no invoice yet, and
   * the subscription moves to its next period only if it is still the version that was read and
   * still in that period, all in one transaction (so running the job twice, or concurrently, bills
   * the period once).
   */
  async createDraftAndAdvance(
    invoice: Invoice,
    next: Subscription,
    expectedVersion: number,
    audits: { invoice: AuditDraft; subscription: AuditDraft },
    taken: readonly StoredPendingItem[],
  ): Promise<CloseOutcome> {
    const items: TransactItem[] = [
      ...this.draftItems(invoice, audits.invoice, taken),
      {
        Put: {
          TableName: this.tableName,
          Item: subscriptionStoreItem(next),
          ConditionExpression: 'version = :expected AND current_period_start = :closing',
          ExpressionAttributeValues: {
            ':expected': expectedVersion,
            ':closing': invoice.period_start,
          },
        },
      },
      auditPut(this.tableName, subscriptionKey(next.id), audits.subscription),
    ];
    const outcome = await transactWrite(items);
    if (outcome.ok) return 'created';
    return outcome.failedConditions.includes(0) ? 'already-invoiced' : 'subscription-changed';
  }

  /** Closes the period to late usage; idempotent (an existing marker is fine). */
  async closePeriodToUsage(
    subscriptionId: string,
    periodStart: string,
    invoiceId: string,
    at: Date,
  ): Promise<void> {
    // The marker of every counter shard: each usage transaction checks only its own shard's.
    await Promise.all(
      Array.from({ length: USAGE_SHARDS }, async (_, shard) => {
        try {
          await dynamo().send(
            new PutCommand({
              TableName: this.tableName,
              Item: {
                ...periodClosedKey(subscriptionId, periodStart, shard),
                item_type: 'period_closed',
                invoice_id: invoiceId,
                closed_at: at.toISOString(),
              },
              ConditionExpression: 'attribute_not_exists(PK)',
            }),
          );
        } catch (error) {
          if (!(error instanceof ConditionalCheckFailedException)) throw error;
        }
      }),
    );
  }

  async lastInvoiceNumber(customerId: string): Promise<number> {
    const { Item } = await dynamo().send(
      new GetCommand({ TableName: this.tableName, Key: invoiceCounterKey(customerId), ConsistentRead: true }),
    );
    return typeof Item?.last_number === 'number' ? Item.last_number : 0;
  }

  /**
   * Finalizes a draft: the invoice (numbered `sequence`), the customer's counter moving from
   * sequence − 1 to sequence, the pending items it bills marked as billed, and `extra` (the
   * customer's credit balance moving), in one transaction. False when another writer got there
   * first (a concurrent finalize, a number taken meanwhile, the balance changed).
   */
  async finalize(
    open: Invoice,
    expectedVersion: number,
    sequence: number,
    billedItems: readonly StoredPendingItem[],
    audit: AuditDraft,
    extra: TransactItem[] = [],
  ): Promise<boolean> {
    const items: TransactItem[] = [
      {
        Put: {
          TableName: this.tableName,
          Item: invoiceStoreItem(open),
          ConditionExpression: '#status = :draft AND version = :expected',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':draft': 'draft', ':expected': expectedVersion },
        },
      },
      this.counterMove(open.customer_id, sequence),
      ...billedItems.map((item) => this.takePendingItem(item, open.id)),
      auditPut(this.tableName, invoiceKey(open.id), audit),
      ...extra,
    ];
    return (await transactWrite(items)).ok;
  }

  /** The customer's invoice counter moving from sequence − 1 to sequence: numbers stay gapless. */
  private counterMove(customerId: string, sequence: number): TransactItem {
    return sequenceMove(this.tableName, invoiceCounterKey(customerId), sequence, 'invoice_counter');
  }

  /**
   * A one-off invoice created finalized, in one transaction: the open invoice (if its id is new), the
   * counter at `sequence`, its audit entries and `extra` (credit balance, idempotency record).
   * `exists`: a retry of the same request wrote it; `lost-race`: the counter or balance moved.
   */
  async createFinalized(
    open: Invoice,
    sequence: number,
    audits: readonly AuditDraft[],
    extra: TransactItem[],
  ): Promise<'created' | 'exists' | 'lost-race' | 'idempotency-key-taken'> {
    const put = {
      TableName: this.tableName,
      Item: invoiceStoreItem(open),
      ConditionExpression: 'attribute_not_exists(PK)',
    };
    const items: TransactItem[] = [
      { Put: put },
      this.counterMove(open.customer_id, sequence),
      ...audits.map((audit) => auditPut(this.tableName, invoiceKey(open.id), audit)),
      ...extra,
    ];
    const outcome = await transactWrite(items);
    if (outcome.ok) return 'created';
    const failed = (i: number) => outcome.failedConditions.includes(i);
    if (items.some((item, i) => item.Put?.Item?.item_type === 'idempotency' && failed(i)))
      return 'idempotency-key-taken';
    return failed(0) ? 'exists' : 'lost-race';
  }

  /** Replaces the invoice if it is still at `expectedVersion`, with its audit entry and any extra items. */
  async transition(
    next: Invoice,
    expectedVersion: number,
    audit: AuditDraft,
    extra: TransactItem[] = [],
  ): Promise<boolean> {
    return (await transactWrite([...this.transitionItems(next, expectedVersion, audit), ...extra])).ok;
  }

  /** The items of `transition`, for a transaction another repository writes (a credit note's). */
  transitionItems(next: Invoice, expectedVersion: number, audit: AuditDraft): TransactItem[] {
    return [
      {
        Put: {
          TableName: this.tableName,
          Item: invoiceStoreItem(next),
          ConditionExpression: 'version = :expected',
          ExpressionAttributeValues: { ':expected': expectedVersion },
        },
      },
      auditPut(this.tableName, invoiceKey(next.id), audit),
    ];
  }

  /** Replaces the invoice if it is still at `expectedVersion`, without an audit entry (bookkeeping only). */
  async replace(next: Invoice, expectedVersion: number): Promise<boolean> {
    try {
      await dynamo().send(
        new PutCommand({
          TableName: this.tableName,
          Item: invoiceStoreItem(next),
          ConditionExpression: 'version = :expected',
          ExpressionAttributeValues: { ':expected': expectedVersion },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  /** A payment recorded for the invoice (applied or not), read strongly. */
  async getPayment(invoiceId: string, paymentId: string): Promise<PaymentRecord | undefined> {
    const { Item } = await dynamo().send(
      new GetCommand({
        TableName: this.tableName,
        Key: invoicePaymentKey(invoiceId, paymentId),
        ConsistentRead: true,
      }),
    );
    return Item ? withoutKeys<PaymentRecord>(Item) : undefined;
  }

  /** Every payment recorded for the invoice, applied or not. */
  paymentsOf(invoiceId: string): Promise<PaymentRecord[]> {
    return queryAll<PaymentRecord>({
      TableName: this.tableName,
      KeyConditionExpression: 'PK = :pk AND begins_with(SK, :prefix)',
      ExpressionAttributeValues: { ':pk': invoiceKey(invoiceId).PK, ':prefix': 'PAYMENT#' },
      ConsistentRead: true,
    });
  }

  /** The paid invoice and its payment (created once: keyed by the payment id), with both audit entries. */
  async markPaid(
    paid: Invoice,
    expectedVersion: number,
    payment: PaymentRecord,
    invoiceAudit: AuditDraft,
    paymentAudit: AuditDraft,
    extra: TransactItem[] = [],
  ): Promise<boolean> {
    return this.transition(paid, expectedVersion, invoiceAudit, [
      ...extra,
      ...this.paymentItems(paid.id, payment, paymentAudit),
    ]);
  }

  /** A payment recorded once (keyed by its id), with its audit entry. */
  paymentItems(invoiceId: string, payment: PaymentRecord, audit: AuditDraft): TransactItem[] {
    const paymentKey = invoicePaymentKey(invoiceId, payment.id);
    return [
      {
        Put: {
          TableName: this.tableName,
          Item: { ...paymentKey, item_type: 'payment', ...payment },
          ConditionExpression: 'attribute_not_exists(PK)',
        },
      },
      auditPut(this.tableName, paymentKey, audit),
    ];
  }

  /**
   * A payment that arrived but cannot settle its invoice, with its audit entry: recorded once (keyed
   * by the payment id), the invoice untouched. False when it was already recorded.
   */
  async recordUnappliedPayment(payment: PaymentRecord, audit: AuditDraft): Promise<boolean> {
    const paymentKey = invoicePaymentKey(payment.invoice_id, payment.id);
    const outcome = await transactWrite([
      {
        Put: {
          TableName: this.tableName,
          Item: { ...paymentKey, item_type: 'payment', ...payment },
          ConditionExpression: 'attribute_not_exists(PK)',
        },
      },
      auditPut(this.tableName, paymentKey, audit),
    ]);
    return outcome.ok;
  }

  /**
   * Open invoices whose due date has passed, oldest first: what moves subscriptions to past_due.
   * Reads only those, from the sparse due index.
   */
  listOverdue(now: Date): Promise<Invoice[]> {
    return this.queryAll({
      IndexName: 'GSI3',
      KeyConditionExpression: 'GSI3PK = :pk AND GSI3SK < :by',
      ExpressionAttributeValues: { ':pk': INVOICES_DUE_PARTITION, ':by': dueBy(now) },
    });
  }

  /**
   * listOverdue from the by-type index with a filter, reading every invoice: for the due-index
   * migration (SubscriptionsRepository.listDueByType says when).
   */
  listOverdueByType(now: Date): Promise<Invoice[]> {
    return this.queryAll({
      IndexName: 'GSI2',
      KeyConditionExpression: 'GSI2PK = :pk',
      FilterExpression: '#status = :open AND due_date <= :now AND amount_due > :nothing',
      ExpressionAttributeNames: { '#status': 'status' },
      ExpressionAttributeValues: {
        ':pk': byTypePartition(ITEM_TYPE),
        ':open': 'open',
        ':now': now.toISOString(),
        ':nothing': 0,
      },
    });
  }

  /** The subscription's open invoices past their due date (its customer's invoices, filtered). */
  async overdueOf(customerId: string, subscriptionId: string, now: Date): Promise<Invoice[]> {
    return this.queryAll({
      IndexName: 'GSI1',
      KeyConditionExpression: 'GSI1PK = :pk AND begins_with(GSI1SK, :prefix)',
      FilterExpression: '#status = :open AND due_date <= :now AND subscription_id = :subscription',
      ExpressionAttributeNames: { '#status': 'status' },
      ExpressionAttributeValues: {
        ':pk': byOwnerPartition(customerKey(customerId)),
        ':prefix': byOwnerPrefix(ITEM_TYPE),
        ':open': 'open',
        ':now': now.toISOString(),
        ':subscription': subscriptionId,
      },
    });
  }

  private queryAll(query: Omit<QueryCommandInput, 'TableName' | 'ExclusiveStartKey'>): Promise<Invoice[]> {
    return queryAll<Invoice>({ ...query, TableName: this.tableName }).then((items) =>
      items.map(storedInvoice),
    );
  }

  async get(invoiceId: string): Promise<Invoice | undefined> {
    const { Item } = await dynamo().send(
      new GetCommand({ TableName: this.tableName, Key: invoiceKey(invoiceId), ConsistentRead: true }),
    );
    return Item ? storedInvoice(Item) : undefined;
  }

  async listByCustomer(
    customerId: string,
    limit: number,
    cursor: string | undefined,
    status?: string,
  ): Promise<Page<Invoice>> {
    const page = await pageByOwner<Invoice>(
      this.tableName,
      customerKey(customerId),
      ITEM_TYPE,
      limit,
      cursor,
      status,
    );
    return { ...page, data: page.data.map(storedInvoice) };
  }

  async listAll(limit: number, cursor: string | undefined, status?: string): Promise<Page<Invoice>> {
    const page = await pageByType<Invoice>(this.tableName, ITEM_TYPE, limit, cursor, status);
    return { ...page, data: page.data.map(storedInvoice) };
  }
}

/**
 * An invoice as stored, with the tax figures one stored before invoices were taxed lacks: it was
 * not taxed, so its subtotal is its total, its tax 0 and its lines carry no taxes.
 */
export function storedInvoice(item: Record<string, unknown>): Invoice {
  const invoice = withoutKeys<Invoice>(item);
  if (invoice.subtotal !== undefined) return invoice;
  return {
    ...invoice,
    ...untaxed(invoice.total),
    lines: (invoice.lines ?? []).map((line) => ({ ...line, taxes: line.taxes ?? [] })),
  };
}

/**
 * A counter item moving from sequence − 1 to sequence, only if it is still at sequence − 1: what keeps
 * a series of numbers (a customer's invoices, its credit notes) gapless under concurrent writers.
 */
export function sequenceMove(
  tableName: string,
  key: TableKey,
  sequence: number,
  itemType: string,
): TransactItem {
  return {
    Update: {
      TableName: tableName,
      Key: key,
      UpdateExpression: 'SET last_number = :sequence, item_type = :type',
      ConditionExpression: sequence === 1 ? 'attribute_not_exists(last_number)' : 'last_number = :previous',
      ExpressionAttributeValues: {
        ':sequence': sequence,
        ':type': itemType,
        ...(sequence === 1 ? {} : { ':previous': sequence - 1 }),
      },
    },
  };
}

/** The stored form of an invoice: its keys (table, by customer, by type, due) and its fields. */
export function invoiceStoreItem(invoice: Invoice): Record<string, unknown> {
  return {
    ...invoiceKey(invoice.id),
    // A customer's invoices list in the order of the moments they bill (the end of the stretch each
    // closes: subscribe, then each period's close, a change, a cancel), also when one run of the
    // close drafts several at once.
    ...byOwnerKey(customerKey(invoice.customer_id), ITEM_TYPE, invoice.period_end, invoice.id),
    ...byTypeKey(ITEM_TYPE, invoice.created_at, invoice.id),
    ...invoiceDueKey(invoice),
    item_type: ITEM_TYPE,
    ...invoice,
  };
}

/**
 * Its due-index keys while it is open with something due and a due date (what dunning looks at),
 * none otherwise: the same test as listOverdueByType's filter, less the date.
 */
export function invoiceDueKey(invoice: Invoice): Record<string, string> {
  if (invoice.status !== 'open' || invoice.due_date === null || !(invoice.amount_due > 0)) return {};
  return dueKey(INVOICES_DUE_PARTITION, invoice.due_date, invoice.id);
}
