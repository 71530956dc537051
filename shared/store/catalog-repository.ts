import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { Plan, Price, Product } from '../domain/catalog.ts';
import type { CouponResource } from '../domain/coupons.ts';
import type { TaxRateResource } from '../domain/tax.ts';
import { type AuditDraft, auditPut } from './audit.ts';
import { batchGetAll } from './batch-get.ts';
import { dynamo } from './client.ts';
import { type IdempotentWrite, idempotencyPut } from './idempotency.ts';
import { withoutKeys } from './items.ts';
import {
  byOwnerKey,
  byOwnerPartition,
  byOwnerPrefix,
  byTypeKey,
  byTypePartition,
  couponKey,
  planKey,
  planMetricKey,
  priceKey,
  productKey,
  type TableKey,
  taxRateKey,
} from './keys.ts';
import { decodeCursor, encodeCursor, type Page } from './pagination.ts';
import { type TransactItem, transactWrite } from './transact.ts';

type CatalogType = 'product' | 'plan' | 'price' | 'tax_rate' | 'coupon';

/** Marks the plan + metric guard item; the stream mapping ignores item types it does not know. */
const METRIC_GUARD_TYPE = 'price_metric_guard';

export type CreateOutcome =
  | { created: true }
  /** The Idempotency-Key was claimed first by another request: replay or refuse it. */
  | { created: false; reason: 'idempotency-key-taken' };

export type CreatePlanOutcome = CreateOutcome | { created: false; reason: 'no-such-product' };

export type CreatePriceOutcome =
  | CreateOutcome
  /** The plan already has an active price for this metric; its id, if it was still there when read. */
  | { created: false; reason: 'metric-taken'; activePriceId: string | undefined }
  /** A one-time price names a product that does not exist. */
  | { created: false; reason: 'no-such-product' };

export type ArchiveOutcome =
  | { archived: true }
  | { archived: false; reason: 'idempotency-key-taken' }
  /** The price was archived (or otherwise changed) since it was read. */
  | { archived: false; reason: 'stale' };

/**
 * Products, plans, prices, tax rates and coupons. Every write is one transaction of the entity change, its audit
 * entry and the optional idempotency record; prices add the "one active price per plan + metric"
 * guard item, created with the price and deleted when it is archived.
 *
 * Reads are strongly consistent: catalog reads feed writes (a plan is read to price it, a price to
 * archive it, a plan to subscribe to it), and an eventually consistent read just after a create
 * could answer "no such plan".
 */
export class CatalogRepository {
  constructor(private readonly tableName: string) {}

  createProduct(product: Product, audit: AuditDraft, idempotency?: IdempotentWrite): Promise<CreateOutcome> {
    const key = productKey(product.id);
    return this.create(
      [this.entityPut(key, 'product', product, byTypeKey('product', product.created_at, product.id))],
      key,
      audit,
      idempotency,
    );
  }

  createTaxRate(
    rate: TaxRateResource,
    audit: AuditDraft,
    idempotency?: IdempotentWrite,
  ): Promise<CreateOutcome> {
    const key = taxRateKey(rate.id);
    return this.create(
      [this.entityPut(key, 'tax_rate', rate, byTypeKey('tax_rate', rate.created_at, rate.id))],
      key,
      audit,
      idempotency,
    );
  }

  createCoupon(
    coupon: CouponResource,
    audit: AuditDraft,
    idempotency?: IdempotentWrite,
  ): Promise<CreateOutcome> {
    const key = couponKey(coupon.id);
    return this.create(
      [this.entityPut(key, 'coupon', coupon, byTypeKey('coupon', coupon.created_at, coupon.id))],
      key,
      audit,
      idempotency,
    );
  }

  getTaxRate(taxRateId: string): Promise<TaxRateResource | undefined> {
    return this.get<TaxRateResource>(taxRateKey(taxRateId));
  }

  /** The tax rates of `ids` that exist, in the order of `ids` (one strongly consistent batch read). */
  async taxRates(ids: readonly string[]): Promise<TaxRateResource[]> {
    if (ids.length === 0) return [];
    const items = await batchGetAll(this.tableName, [...new Set(ids)].map(taxRateKey));
    const byId = new Map(items.map((item) => [item.id, withoutKeys<TaxRateResource>(item)]));
    return ids.flatMap((id) => byId.get(id) ?? []);
  }

  /** The product must exist when the plan is written: checked inside the same transaction. */
  async createPlan(plan: Plan, audit: AuditDraft, idempotency?: IdempotentWrite): Promise<CreatePlanOutcome> {
    const key = planKey(plan.id);
    const owner = productKey(plan.product_id);
    const productCheck: TransactItem = {
      ConditionCheck: { TableName: this.tableName, Key: owner, ConditionExpression: 'attribute_exists(PK)' },
    };
    const items = [
      this.entityPut(key, 'plan', plan, {
        ...byTypeKey('plan', plan.created_at, plan.id),
        ...byOwnerKey(owner, 'plan', plan.created_at, plan.id),
      }),
      productCheck,
    ];
    const outcome = await this.create(items, key, audit, idempotency, [1]);
    return 'failedCheck' in outcome ? { created: false, reason: 'no-such-product' } : outcome;
  }

  async createPrice(
    price: Price,
    audit: AuditDraft,
    idempotency?: IdempotentWrite,
  ): Promise<CreatePriceOutcome> {
    const key = priceKey(price.id);
    if (price.plan_id === null) return this.createOneTimePrice(price, audit, idempotency);
    const items = [
      this.entityPut(key, 'price', price, {
        ...byTypeKey('price', price.created_at, price.id),
        ...byOwnerKey(planKey(price.plan_id), 'price', price.created_at, price.id),
      }),
    ];
    const guardKey = price.metric === null ? undefined : planMetricKey(price.plan_id, price.metric);
    if (guardKey) {
      items.push({
        Put: {
          TableName: this.tableName,
          Item: {
            ...guardKey,
            item_type: METRIC_GUARD_TYPE,
            price_id: price.id,
            created_at: price.created_at,
          },
          ConditionExpression: 'attribute_not_exists(PK)',
        },
      });
    }
    const outcome = await this.create(items, key, audit, idempotency, guardKey ? [1] : []);
    if (!('failedCheck' in outcome)) return outcome;
    const { Item } = await dynamo().send(
      new GetCommand({ TableName: this.tableName, Key: guardKey, ConsistentRead: true }),
    );
    const activePriceId = typeof Item?.price_id === 'string' ? Item.price_id : undefined;
    return { created: false, reason: 'metric-taken', activePriceId };
  }

  /** A one-time price hangs under its product (which must exist), not under a plan. */
  private async createOneTimePrice(
    price: Price,
    audit: AuditDraft,
    idempotency?: IdempotentWrite,
  ): Promise<CreatePriceOutcome> {
    const owner = productKey(price.product_id ?? '');
    const items: TransactItem[] = [
      this.entityPut(priceKey(price.id), 'price', price, {
        ...byTypeKey('price', price.created_at, price.id),
        ...byOwnerKey(owner, 'price', price.created_at, price.id),
      }),
      {
        ConditionCheck: {
          TableName: this.tableName,
          Key: owner,
          ConditionExpression: 'attribute_exists(PK)',
        },
      },
    ];
    const outcome = await this.create(items, priceKey(price.id), audit, idempotency, [1]);
    return 'failedCheck' in outcome ? { created: false, reason: 'no-such-product' } : outcome;
  }

  /**
   * Writes the archived price only if it is still the active version that was read, and frees its
   * metric for a new price, in one transaction with the audit entry.
   */
  async archivePrice(
    before: Price,
    after: Price,
    audit: AuditDraft,
    idempotency?: IdempotentWrite,
  ): Promise<ArchiveOutcome> {
    const key = priceKey(before.id);
    const items: TransactItem[] = [
      {
        Update: {
          TableName: this.tableName,
          Key: key,
          UpdateExpression: 'SET active = :inactive, version = :next, updated_at = :at',
          ConditionExpression: 'active = :active AND version = :version',
          ExpressionAttributeValues: {
            ':inactive': after.active,
            ':active': true,
            ':next': after.version,
            ':version': before.version,
            ':at': after.updated_at,
          },
        },
      },
    ];
    if (before.metric !== null && before.plan_id !== null) {
      items.push({
        Delete: {
          TableName: this.tableName,
          Key: planMetricKey(before.plan_id, before.metric),
          // Never free a metric some other price holds: the guard belongs to the active price.
          ConditionExpression: 'price_id = :priceId',
          ExpressionAttributeValues: { ':priceId': before.id },
        },
      });
    }
    const guardIndex = items.length - 1;
    items.push(auditPut(this.tableName, key, audit));
    if (idempotency) items.push(idempotencyPut(this.tableName, idempotency.claim, idempotency.response));
    const outcome = await transactWrite(items);
    if (outcome.ok) return { archived: true };
    if (idempotency && outcome.failedConditions.includes(items.length - 1))
      return { archived: false, reason: 'idempotency-key-taken' };
    if (outcome.failedConditions.includes(0)) return { archived: false, reason: 'stale' };
    if (before.metric !== null && outcome.failedConditions.includes(guardIndex)) {
      throw new Error(`Active price ${before.id} does not hold the guard of metric ${before.metric}`);
    }
    throw new Error(`Archiving price ${before.id} failed conditions ${outcome.failedConditions.join(', ')}`);
  }

  getProduct(productId: string): Promise<Product | undefined> {
    return this.get<Product>(productKey(productId));
  }

  getPlan(planId: string): Promise<Plan | undefined> {
    return this.get<Plan>(planKey(planId));
  }

  getPrice(priceId: string): Promise<Price | undefined> {
    return this.get<Price>(priceKey(priceId));
  }

  /** Every product / plan / price / tax rate, oldest first. */
  listAll<T>(type: CatalogType, limit: number, cursor: string | undefined): Promise<Page<T>> {
    return this.page<T>({ index: 'GSI2', partition: byTypePartition(type) }, limit, cursor);
  }

  /** The plans of one product, oldest first. */
  listPlansOfProduct(productId: string, limit: number, cursor: string | undefined): Promise<Page<Plan>> {
    return this.page<Plan>(this.childrenOf(productKey(productId), 'plan'), limit, cursor);
  }

  /** The one-time prices of one product, archived included, oldest first. */
  listPricesOfProduct(productId: string, limit: number, cursor: string | undefined): Promise<Page<Price>> {
    return this.page<Price>(this.childrenOf(productKey(productId), 'price'), limit, cursor);
  }

  /** The prices of one plan, archived included, oldest first. */
  listPricesOfPlan(planId: string, limit: number, cursor: string | undefined): Promise<Page<Price>> {
    return this.page<Price>(this.childrenOf(planKey(planId), 'price'), limit, cursor);
  }

  /** Every price of a plan, archived included, reading page after page until the last. */
  async allPricesOfPlan(planId: string): Promise<Price[]> {
    const prices: Price[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.listPricesOfPlan(planId, 100, cursor);
      prices.push(...page.data);
      cursor = page.next_cursor ?? undefined;
    } while (cursor !== undefined);
    return prices;
  }

  private entityPut(
    key: TableKey,
    itemType: CatalogType,
    entity: Product | Plan | Price | TaxRateResource | CouponResource,
    indexKeys: Record<string, string>,
  ): TransactItem {
    return {
      Put: {
        TableName: this.tableName,
        Item: { ...key, ...indexKeys, item_type: itemType, ...entity },
        ConditionExpression: 'attribute_not_exists(PK)',
      },
    };
  }

  /**
   * Runs `items` (the entity Put first) with the audit entry and the idempotency record. A failed
   * condition among `expectedChecks` (indexes into `items`) is returned for the caller to explain.
   */
  private create(
    items: TransactItem[],
    entityKey: TableKey,
    audit: AuditDraft,
    idempotency: IdempotentWrite | undefined,
  ): Promise<CreateOutcome>;
  private create(
    items: TransactItem[],
    entityKey: TableKey,
    audit: AuditDraft,
    idempotency: IdempotentWrite | undefined,
    expectedChecks: readonly number[],
  ): Promise<CreateOutcome | { created: false; failedCheck: number }>;
  private async create(
    items: TransactItem[],
    entityKey: TableKey,
    audit: AuditDraft,
    idempotency: IdempotentWrite | undefined,
    expectedChecks: readonly number[] = [],
  ): Promise<CreateOutcome | { created: false; failedCheck: number }> {
    const all = [
      ...items,
      auditPut(this.tableName, entityKey, audit),
      ...(idempotency ? [idempotencyPut(this.tableName, idempotency.claim, idempotency.response)] : []),
    ];
    const outcome = await transactWrite(all);
    if (outcome.ok) return { created: true };
    // The key's first claimant answers for the request, whatever else failed alongside it.
    if (idempotency && outcome.failedConditions.includes(all.length - 1))
      return { created: false, reason: 'idempotency-key-taken' };
    const failedCheck = expectedChecks.find((index) => outcome.failedConditions.includes(index));
    if (failedCheck !== undefined) return { created: false, failedCheck };
    // A random UUID collided with an existing item: astronomically unlikely, never silently overwritten.
    throw new Error(`Creating ${entityKey.PK} failed conditions ${outcome.failedConditions.join(', ')}`);
  }

  private async get<T>(key: TableKey): Promise<T | undefined> {
    const { Item } = await dynamo().send(
      new GetCommand({ TableName: this.tableName, Key: key, ConsistentRead: true }),
    );
    return Item ? withoutKeys<T>(Item) : undefined;
  }

  private childrenOf(owner: TableKey, childType: CatalogType) {
    return { index: 'GSI1' as const, partition: byOwnerPartition(owner), prefix: byOwnerPrefix(childType) };
  }

  private async page<T>(
    query: { index: 'GSI1' | 'GSI2'; partition: string; prefix?: string },
    limit: number,
    cursor: string | undefined,
  ): Promise<Page<T>> {
    const pk = `${query.index}PK`;
    const sk = `${query.index}SK`;
    const { Items, LastEvaluatedKey } = await dynamo().send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: query.index,
        KeyConditionExpression:
          query.prefix === undefined ? '#pk = :pk' : '#pk = :pk AND begins_with(#sk, :prefix)',
        ExpressionAttributeNames: { '#pk': pk, ...(query.prefix === undefined ? {} : { '#sk': sk }) },
        ExpressionAttributeValues: {
          ':pk': query.partition,
          ...(query.prefix === undefined ? {} : { ':prefix': query.prefix }),
        },
        Limit: limit,
        ExclusiveStartKey: decodeCursor(cursor, {
          attribute: pk,
          value: query.partition,
          prefix: query.prefix,
        }),
      }),
    );
    return {
      data: (Items ?? []).map((item) => withoutKeys<T>(item)),
      next_cursor: encodeCursor(LastEvaluatedKey),
    };
  }
}
