import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { CouponResource, CustomerDiscount } from '../domain/coupons.ts';
import { type AuditDraft, auditPut } from './audit.ts';
import { dynamo } from './client.ts';
import { type IdempotentWrite, idempotencyPut } from './idempotency.ts';
import { withoutKeys } from './items.ts';
import { couponHeldKey, couponKey, customerKey, DISCOUNT_SK_PREFIX, discountKey } from './keys.ts';
import { type TransactItem, transactWrite } from './transact.ts';

const DISCOUNT_TYPE = 'discount';

export type RedeemOutcome =
  | { redeemed: true }
  | {
      redeemed: false;
      reason: 'idempotency-key-taken' | 'no-such-customer' | 'coupon-unavailable' | 'already-held';
    };

/**
 * Customers' discounts: coupons redeemed (shared/domain/coupons.ts). Coupons themselves are stored
 * with the catalog (CatalogRepository); this counts their redemptions.
 */
export class DiscountsRepository {
  constructor(private readonly tableName: string) {}

  async getCoupon(couponId: string): Promise<CouponResource | undefined> {
    const { Item } = await dynamo().send(
      new GetCommand({ TableName: this.tableName, Key: couponKey(couponId), ConsistentRead: true }),
    );
    return Item ? withoutKeys<CouponResource>(Item) : undefined;
  }

  /**
   * The discount, the coupon's redemption count (checked against its max_redemptions and its being
   * active in the same write, so two redemptions can never both take the last one), the check that
   * the customer exists, the audit entry and the idempotency record: all, or none.
   */
  async redeem(
    discount: CustomerDiscount,
    audit: AuditDraft,
    idempotency?: IdempotentWrite,
  ): Promise<RedeemOutcome> {
    const key = discountKey(discount.customer_id, discount.id);
    const items: TransactItem[] = [
      {
        Put: {
          TableName: this.tableName,
          Item: { ...key, item_type: DISCOUNT_TYPE, ...discount },
          ConditionExpression: 'attribute_not_exists(PK)',
        },
      },
      {
        Update: {
          TableName: this.tableName,
          Key: couponKey(discount.coupon.id),
          UpdateExpression: 'SET times_redeemed = if_not_exists(times_redeemed, :zero) + :one',
          ConditionExpression:
            'attribute_exists(PK) AND active = :true AND (attribute_not_exists(max_redemptions) OR attribute_type(max_redemptions, :null) OR times_redeemed < max_redemptions)',
          ExpressionAttributeValues: { ':zero': 0, ':one': 1, ':true': true, ':null': 'NULL' },
        },
      },
      {
        ConditionCheck: {
          TableName: this.tableName,
          Key: customerKey(discount.customer_id),
          ConditionExpression: 'attribute_exists(PK)',
        },
      },
      {
        Put: {
          TableName: this.tableName,
          Item: {
            ...couponHeldKey(discount.customer_id, discount.coupon.id),
            item_type: 'coupon_held',
            discount_id: discount.id,
          },
          ConditionExpression: 'attribute_not_exists(PK)',
        },
      },
      auditPut(this.tableName, customerKey(discount.customer_id), audit),
      ...(idempotency ? [idempotencyPut(this.tableName, idempotency.claim, idempotency.response)] : []),
    ];
    const outcome = await transactWrite(items);
    if (outcome.ok) return { redeemed: true };
    if (idempotency && outcome.failedConditions.includes(items.length - 1))
      return { redeemed: false, reason: 'idempotency-key-taken' };
    if (outcome.failedConditions.includes(2)) return { redeemed: false, reason: 'no-such-customer' };
    if (outcome.failedConditions.includes(3)) return { redeemed: false, reason: 'already-held' };
    if (outcome.failedConditions.includes(1)) return { redeemed: false, reason: 'coupon-unavailable' };
    throw new Error(
      `Redeeming coupon ${discount.coupon.id} failed conditions ${outcome.failedConditions.join(', ')}`,
    );
  }

  /** One discount of the customer (strongly consistent), or undefined. */
  async discount(customerId: string, discountId: string): Promise<CustomerDiscount | undefined> {
    const { Item } = await dynamo().send(
      new GetCommand({
        TableName: this.tableName,
        Key: discountKey(customerId, discountId),
        ConsistentRead: true,
      }),
    );
    return Item ? withoutKeys<CustomerDiscount>(Item) : undefined;
  }

  /** Every discount of the customer, ended ones included (a handful: MAX_DISCOUNTS_PER_CUSTOMER live). */
  async discountsOf(customerId: string): Promise<CustomerDiscount[]> {
    const discounts: CustomerDiscount[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await dynamo().send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'PK = :pk AND begins_with(SK, :prefix)',
          ExpressionAttributeValues: { ':pk': customerKey(customerId).PK, ':prefix': DISCOUNT_SK_PREFIX },
          ConsistentRead: true,
          ExclusiveStartKey: start,
        }),
      );
      discounts.push(...(page.Items ?? []).map((item) => withoutKeys<CustomerDiscount>(item)));
      start = page.LastEvaluatedKey;
    } while (start);
    return discounts.sort((a, b) => a.created_at.localeCompare(b.created_at) || a.id.localeCompare(b.id));
  }

  /** Ends the discount if it is still the version read; false if it changed meanwhile. */
  async end(before: CustomerDiscount, after: CustomerDiscount, audit: AuditDraft): Promise<boolean> {
    const outcome = await transactWrite([
      this.changed(before, after),
      // The coupon can be redeemed again by this customer once this discount has ended.
      { Delete: { TableName: this.tableName, Key: couponHeldKey(before.customer_id, before.coupon.id) } },
      auditPut(this.tableName, customerKey(before.customer_id), audit),
    ]);
    return outcome.ok;
  }

  /** That a discount is still the version read (not ended meanwhile): for the finalize transaction. */
  unchangedCheck(discount: CustomerDiscount): TransactItem {
    return {
      ConditionCheck: {
        TableName: this.tableName,
        Key: discountKey(discount.customer_id, discount.id),
        ConditionExpression: 'version = :version',
        ExpressionAttributeValues: { ':version': discount.version },
      },
    };
  }

  /**
   * The write of a discount's new state (a period it discounted, its end), conditioned on the
   * version read: for the transaction that finalizes the invoice it discounted.
   */
  changed(before: CustomerDiscount, after: CustomerDiscount): TransactItem {
    return {
      Update: {
        TableName: this.tableName,
        Key: discountKey(before.customer_id, before.id),
        UpdateExpression:
          'SET discounted_periods = :periods, amounts_off_used = :used, ended_at = :ended, updated_at = :at, version = :next',
        ConditionExpression: 'version = :version',
        ExpressionAttributeValues: {
          ':periods': after.discounted_periods,
          ':used': after.amounts_off_used ?? {},
          ':ended': after.ended_at,
          ':at': after.updated_at,
          ':next': after.version,
          ':version': before.version,
        },
      },
    };
  }
}
