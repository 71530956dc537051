import { GetCommand } from '@aws-sdk/lib-dynamodb';
import type { Invoice } from '../domain/invoice.ts';
import { batchGetAll } from './batch-get.ts';
import { dynamo } from './client.ts';
import { storedInvoice } from './invoices-repository.ts';
import {
  invoiceKey,
  periodClosedKey,
  subscriptionKey,
  thresholdHeadKey,
  thresholdInvoiceKey,
  thresholdInvoicesPrefix,
} from './keys.ts';
import { queryAll } from './list-pages.ts';
import type { TransactItem } from './transact.ts';

/**
 * The threshold invoices of a subscription's period (progressive billing): each is found through a
 * locator beside the subscription, written in the transaction that creates the invoice, so the invoice
 * that bills the period's usage reads them with one consistent Query and credits what they billed.
 */
export class ThresholdInvoicesRepository {
  constructor(private readonly tableName: string) {}

  /** The period's threshold invoices, as they are now (a void one included: it bills nothing). */
  async ofPeriod(subscriptionId: string, periodStart: string): Promise<Invoice[]> {
    const locators = await queryAll<{ invoice_id: string }>({
      TableName: this.tableName,
      KeyConditionExpression: 'PK = :pk AND begins_with(SK, :prefix)',
      ExpressionAttributeValues: {
        ':pk': subscriptionKey(subscriptionId).PK,
        ':prefix': thresholdInvoicesPrefix(periodStart),
      },
      ConsistentRead: true,
    });
    if (locators.length === 0) return [];
    const items = await batchGetAll(
      this.tableName,
      locators.map((locator) => invoiceKey(locator.invoice_id)),
    );
    return items.map(storedInvoice);
  }

  /**
   * For the transaction creating a threshold invoice: its locator, and a check that the subscription
   * is still in the period (and not canceled). Every invoice that bills a period's usage is drafted in
   * the transaction that moves the subscription out of it, so a threshold invoice that commits is seen
   * by that invoice's finalization, and one that comes too late is refused rather than left uncredited.
   */
  createItems(
    invoice: Invoice,
    subscriptionId: string,
    periodStart: string,
    /** The highest threshold invoiced in the period when it was read (0: none). */
    highestRead: number,
  ): TransactItem[] {
    return [
      {
        // The period's head moves from the highest threshold read to this one: two runs that read the
        // same earlier invoices cannot both invoice (the second reads again and bills only the rest).
        Put: {
          TableName: this.tableName,
          Item: {
            ...thresholdHeadKey(subscriptionId, periodStart),
            item_type: 'threshold_head',
            highest: invoice.usage_threshold,
            invoice_id: invoice.id,
          },
          ConditionExpression: highestRead === 0 ? 'attribute_not_exists(PK)' : 'highest = :read',
          ...(highestRead === 0 ? {} : { ExpressionAttributeValues: { ':read': highestRead } }),
        },
      },
      {
        Put: {
          TableName: this.tableName,
          Item: {
            ...thresholdInvoiceKey(subscriptionId, periodStart, invoice.id),
            item_type: 'threshold_invoice_locator',
            invoice_id: invoice.id,
            usage_threshold: invoice.usage_threshold,
            created_at: invoice.created_at,
          },
        },
      },
      {
        ConditionCheck: {
          TableName: this.tableName,
          Key: subscriptionKey(subscriptionId),
          ConditionExpression: 'current_period_start = :start AND #status <> :canceled',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':start': periodStart, ':canceled': 'canceled' },
        },
      },
    ];
  }

  /**
   * The invoice that closed the threshold invoice's period to usage (finalization writes the marker
   * before it reads the threshold invoices it credits), or undefined while none has.
   */
  async closedBy(subscriptionId: string, periodStart: string): Promise<string | undefined> {
    const { Item } = await dynamo().send(
      new GetCommand({
        TableName: this.tableName,
        Key: periodClosedKey(subscriptionId, periodStart, 0),
        ConsistentRead: true,
      }),
    );
    return Item ? String(Item.invoice_id) : undefined;
  }

  /** For a void's transaction: the period is not closed yet, so no finalized invoice credits it. */
  periodStillOpen(subscriptionId: string, periodStart: string): TransactItem {
    return {
      ConditionCheck: {
        TableName: this.tableName,
        Key: periodClosedKey(subscriptionId, periodStart, 0),
        ConditionExpression: 'attribute_not_exists(PK)',
      },
    };
  }
}
