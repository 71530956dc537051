import { GetCommand } from '@aws-sdk/lib-dynamodb';
import type { Refund } from '../domain/refund.ts';
import { type AuditDraft, auditPut } from './audit.ts';
import { dynamo } from './client.ts';
import type { PaymentRecord } from './invoices-repository.ts';
import { withoutKeys } from './items.ts';
import {
  invoiceKey,
  invoicePaymentKey,
  REFUND_SK_PREFIX,
  REFUNDS_UNSENT_PARTITION,
  refundKey,
  unsentRefundKey,
} from './keys.ts';
import { queryAll } from './list-pages.ts';
import { type TransactItem, transactWrite } from './transact.ts';

const ITEM_TYPE = 'refund';

/** An unsent refund's marker: where to find the refund. */
type UnsentMarker = { invoice_id: string; refund_id: string };

/** Refunds (shared/domain/refund.ts), kept in their invoice's partition; their audit entries join its trail. */
export class RefundsRepository {
  constructor(private readonly tableName: string) {}

  async get(invoiceId: string, refundId: string): Promise<Refund | undefined> {
    const { Item } = await dynamo().send(
      new GetCommand({
        TableName: this.tableName,
        Key: refundKey(invoiceId, refundId),
        ConsistentRead: true,
      }),
    );
    return Item ? withoutKeys<Refund>(Item) : undefined;
  }

  /** The invoice's refunds, in the order of their ids (oldest first: ids start with their time). */
  ofInvoice(invoiceId: string): Promise<Refund[]> {
    return queryAll<Refund>({
      TableName: this.tableName,
      KeyConditionExpression: 'PK = :pk AND begins_with(SK, :prefix)',
      ExpressionAttributeValues: { ':pk': invoiceKey(invoiceId).PK, ':prefix': REFUND_SK_PREFIX },
      ConsistentRead: true,
    });
  }

  /** Refunds recorded whose request Stripe has not accepted yet (normally none). */
  unsent(): Promise<UnsentMarker[]> {
    return queryAll<UnsentMarker>({
      TableName: this.tableName,
      KeyConditionExpression: 'PK = :pk',
      ExpressionAttributeValues: { ':pk': REFUNDS_UNSENT_PARTITION },
      ConsistentRead: true,
    });
  }

  /** A new refund (only if its id is new), its audit entry, and, until Stripe accepts it, its unsent marker. */
  createItems(refund: Refund, audit: AuditDraft): TransactItem[] {
    return [
      {
        Put: {
          TableName: this.tableName,
          Item: { ...refundKey(refund.invoice_id, refund.id), item_type: ITEM_TYPE, ...refund },
          ConditionExpression: 'attribute_not_exists(PK)',
        },
      },
      auditPut(this.tableName, refundKey(refund.invoice_id, refund.id), audit),
      ...(refund.sent
        ? []
        : [
            {
              Put: {
                TableName: this.tableName,
                Item: {
                  ...unsentRefundKey(refund.created_at, refund.id),
                  item_type: 'refund_unsent',
                  invoice_id: refund.invoice_id,
                  refund_id: refund.id,
                },
              },
            },
          ]),
    ];
  }

  /**
   * The payment's refunded amount moving from what was read to `after` (never above the payment's
   * amount): two refunds at once cannot both take what is left of it.
   */
  paymentRefunded(payment: PaymentRecord, after: number): TransactItem {
    const before = payment.amount_refunded ?? 0;
    return {
      Update: {
        TableName: this.tableName,
        Key: invoicePaymentKey(payment.invoice_id, payment.id),
        UpdateExpression: 'SET amount_refunded = :after',
        ConditionExpression:
          before === 0
            ? 'attribute_exists(PK) AND (attribute_not_exists(amount_refunded) OR amount_refunded = :zero) AND amount >= :after'
            : 'amount_refunded = :before AND amount >= :after',
        ExpressionAttributeValues: {
          ':after': after,
          ...(before === 0 ? { ':zero': 0 } : { ':before': before }),
        },
      },
    };
  }

  /** Writes the refund after a change (on the version read), its audit entry and `extra`; false if it moved. */
  async update(
    next: Refund,
    expectedVersion: number,
    audit: AuditDraft,
    extra: TransactItem[],
  ): Promise<boolean> {
    const items: TransactItem[] = [
      {
        Put: {
          TableName: this.tableName,
          Item: { ...refundKey(next.invoice_id, next.id), item_type: ITEM_TYPE, ...next },
          ConditionExpression: 'version = :expected',
          ExpressionAttributeValues: { ':expected': expectedVersion },
        },
      },
      auditPut(this.tableName, refundKey(next.invoice_id, next.id), audit),
      ...extra,
    ];
    return (await transactWrite(items)).ok;
  }

  /** Removes an unsent marker (the refund was sent). */
  sentItem(refund: Refund): TransactItem {
    return { Delete: { TableName: this.tableName, Key: unsentRefundKey(refund.created_at, refund.id) } };
  }
}
