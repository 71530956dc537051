/**
 * Every key of the single billing table is built here, and nowhere else.
 *
 * Access patterns                          | Index | Key condition
 * ---------------------------------------- | ----- | ---------------------------------------------------
 * Get customer by id                       | table | PK = CUSTOMER#<id>, SK = PROFILE
 * List customers, oldest first (operator)  | GSI2  | GSI2PK = TYPE#customer, GSI2SK > cursor
 * Audit trail of one entity, oldest first  | table | PK = <entity PK>, SK begins_with AUDIT#
 * Idempotent replay of a POST              | table | PK = IDEMPOTENCY#<principal>#<route>#<key>, SK = RESPONSE
 * Stripe webhook event seen once           | table | PK = STRIPE_EVENT#<event id>, SK = RECEIVED
 * Get product / plan / price by id         | table | PK = PRODUCT#<id> / PLAN#<id> / PRICE#<id>, SK = PROFILE
 * List products / plans / prices           | GSI2  | GSI2PK = TYPE#product / TYPE#plan / TYPE#price
 * Plans of a product, oldest first         | GSI1  | GSI1PK = PRODUCT#<id>, GSI1SK begins_with PLAN#
 * Prices of a plan, oldest first           | GSI1  | GSI1PK = PLAN#<id>, GSI1SK begins_with PRICE#
 * One-time prices of a product, oldest first| GSI1  | GSI1PK = PRODUCT#<id>, GSI1SK begins_with PRICE#
 * One active usage price per plan + metric | table | PK = PLAN#<id>, SK = METRIC#<metric> (uniqueness guard)
 * Get tax rate by id (one, or a batch)     | table | PK = TAX_RATE#<id>, SK = PROFILE
 * List tax rates, oldest first             | GSI2  | GSI2PK = TYPE#tax_rate
 * Get coupon by id (and its redemptions)   | table | PK = COUPON#<id>, SK = PROFILE (times_redeemed)
 * List coupons, oldest first               | GSI2  | GSI2PK = TYPE#coupon
 * Discounts (coupons redeemed) of a customer| table | PK = CUSTOMER#<id>, SK begins_with DISCOUNT#
 * A coupon held once by a customer          | table | PK = CUSTOMER#<id>, SK = COUPON_HELD#<coupon> (uniqueness guard)
 * Get subscription by id                   | table | PK = SUBSCRIPTION#<id>, SK = PROFILE
 * Subscriptions of a customer              | GSI1  | GSI1PK = CUSTOMER#<id>, GSI1SK begins_with SUBSCRIPTION#
 * List subscriptions (operator)            | GSI2  | GSI2PK = TYPE#subscription
 * Pending invoice items of a subscription  | table | PK = SUBSCRIPTION#<id>, SK begins_with PENDING_ITEM#
 * Pending invoice item by its id alone     | table | PK = INVOICE_ITEM#<id>, SK = LOCATOR (→ its subscription, created_at)
 * Usage record seen once (per subscription)| table | PK = USAGE_RECORD#<subscription>#<idempotency key>, SK = RECORD
 * Usage records of a period (one shard)    | GSI1  | GSI1PK = USAGE_RECORDS#<subscription>#<period start>#<shard>, GSI1SK > cursor
 * …of one metric / one invoice line        | GSI1  | same, GSI1SK begins_with <metric># / <metric>#<price>#
 * Usage aggregate shard of one period      | table | PK = USAGE_AGG#<subscription>#<shard>, SK = <period start>#<metric>#<price>
 * All usage of a period (every shard)      | table | PartiQL: PK IN [USAGE_AGG#<subscription>#<0..n-1>], SK begins_with <period start>#
 * Period closed to late usage (invoiced)   | table | PK = SUBSCRIPTION#<id>, SK = PERIOD_CLOSED#<period start>#<shard>
 * Threshold invoices of a period           | table | PK = SUBSCRIPTION#<id>, SK begins_with THRESHOLD_INVOICE#<period start># (→ invoice id)
 * Highest threshold invoiced in a period   | table | PK = SUBSCRIPTION#<id>, SK = THRESHOLD_HEAD#<period start> (serializes the invoicer)
 * Budget projection of a subscription     | table | PK = SUBSCRIPTION#<id>, SK = BUDGET (the SmartGateway row, billing's view)
 * Spend ledger of one period/metric/price  | table | PK = SUBSCRIPTION#<id>, SK = SPEND#<period start>#<metric>#<price> (expires)
 * Get invoice by id                        | table | PK = INVOICE#<id>, SK = PROFILE
 * Invoices of a customer, by what they end | GSI1  | GSI1PK = CUSTOMER#<id>, GSI1SK begins_with INVOICE#
 * List invoices (operator)                 | GSI2  | GSI2PK = TYPE#invoice
 * Last invoice number of a customer        | table | PK = CUSTOMER#<id>, SK = INVOICE_COUNTER
 * Invoice prefix taken once in the stage    | table | PK = INVOICE_PREFIX#<prefix>, SK = CLAIM (uniqueness guard)
 * Credit balances of a customer            | table | PK = CUSTOMER#<id>, SK begins_with CREDIT_BALANCE#
 * Credit balance in one currency           | table | PK = CUSTOMER#<id>, SK = CREDIT_BALANCE#<currency>
 * Payments of an invoice (each once)       | table | PK = INVOICE#<id>, SK begins_with PAYMENT#
 * Refunds of an invoice (and one by id)    | table | PK = INVOICE#<id>, SK begins_with REFUND# (= REFUND#<refund id>)
 * Refunds Stripe has not answered for yet  | table | PK = REFUNDS_UNSENT, SK begins_with <created at># (few: an outage's)
 * Get credit note by id                    | table | PK = CREDIT_NOTE#<id>, SK = PROFILE
 * Credit notes of an invoice, oldest first | GSI1  | GSI1PK = INVOICE#<id>, GSI1SK begins_with CREDIT_NOTE#
 * Last credit note number of a customer    | table | PK = CUSTOMER#<id>, SK = CREDIT_NOTE_COUNTER
 * Hosted invoice link by its token         | table | PK = HOSTED_LINK#<SHA-256 of the token>, SK = LINK (expires)
 * Hosted links of an invoice revoked until  | table | PK = INVOICE#<id>, SK = HOSTED_LINKS_REVOKED
 * Subscriptions due for period close       | GSI3  | GSI3PK = DUE#subscription#<status> (each not canceled), GSI3SK < <now>$
 * Subscriptions in one status (past_due)   | GSI3  | GSI3PK = DUE#subscription#<status>
 * Open invoices past their due date        | GSI3  | GSI3PK = DUE#invoice, GSI3SK < <now>$ (open, amount due > 0)
 * …the same before the due index was filled| GSI2  | GSI2PK = TYPE#subscription / TYPE#invoice, filtered (due-index migration only)
 * Due-index migration state                | table | PK = MIGRATION#due-index, SK = STATE
 * Subscriptions the close could not close  | table | PK = CLOSE_FAILURE, SK begins_with SUBSCRIPTION# (few: each one an alarm)
 * Get payment method by id (webhooks, pay)  | table | PK = PAYMENT_METHOD#<pm id>, SK = PROFILE
 * Payment methods of a customer, oldest 1st | GSI1  | GSI1PK = CUSTOMER#<id>, GSI1SK begins_with PAYMENT_METHOD#
 * Default payment method of a customer     | table | PK = CUSTOMER#<id>, SK = DEFAULT_PAYMENT_METHOD
 *
 * Usage aggregates are sharded over distinct partition keys so that one very hot subscription
 * spreads its counter writes over several partitions (see docs/usage-metering.md).
 *
 * Entity items carry `item_type` and `version` so the stream fan-out can map them to events
 * (shared/events/stream-mapping.ts) and ignore bookkeeping items (audit, idempotency).
 */
export type TableKey = { PK: string; SK: string };

export const ENTITY_SK = 'PROFILE';

export const customerKey = (customerId: string): TableKey => ({
  PK: `CUSTOMER#${customerId}`,
  SK: ENTITY_SK,
});

/** GSI2 "by type": every entity of one type in creation order. */
export const byTypeKey = (entityType: string, createdAt: string, id: string) => ({
  GSI2PK: `TYPE#${entityType}`,
  GSI2SK: `${createdAt}#${id}`,
});

export const byTypePartition = (entityType: string): string => `TYPE#${entityType}`;

/**
 * GSI3 "due", sparse: set only while a scheduled job has something to do with the item (see
 * table-definition.ts), in a partition per kind of work, sorted by the moment it is due. The moment is
 * an ISO-8601 UTC time as toISOString writes it (fixed width), so sort keys order by time.
 */
export const dueKey = (partition: string, dueAt: string, id: string) => ({
  GSI3PK: partition,
  GSI3SK: `${dueAt}#${id}`,
});

/** Subscriptions not canceled, one partition per status, by the end of their current period. */
export const subscriptionsDuePartition = (status: string): string => `DUE#subscription#${status}`;

/** Open invoices with an amount due, by their due date. */
export const INVOICES_DUE_PARTITION = 'DUE#invoice';

/**
 * Exclusive upper bound of the due sort keys of everything due at `now` or before: `<moment>#<id>`
 * is below `<now>$` exactly when moment <= now (same width, and `#` sorts just before `$`).
 */
export const dueBy = (now: Date): string => `${now.toISOString()}$`;

/** Whether the due index holds every item it should yet (shared/store/due-index-repository.ts). */
export const DUE_INDEX_MIGRATION_KEY: TableKey = { PK: 'MIGRATION#due-index', SK: 'STATE' };

export const auditKey = (entityKey: TableKey, at: string, auditId: string): TableKey => ({
  PK: entityKey.PK,
  SK: `AUDIT#${at}#${auditId}`,
});

export const AUDIT_SK_PREFIX = 'AUDIT#';

export const idempotencyKey = (principal: string, route: string, key: string): TableKey => ({
  PK: `IDEMPOTENCY#${principal}#${route}#${key}`,
  SK: 'RESPONSE',
});

/** A subscription the period close failed on: kept until a later close of it succeeds. */
export const closeFailureKey = (subscriptionId: string): TableKey => ({
  PK: CLOSE_FAILURE_PARTITION,
  SK: `SUBSCRIPTION#${subscriptionId}`,
});
export const CLOSE_FAILURE_PARTITION = 'CLOSE_FAILURE';

export const stripeEventKey = (eventId: string): TableKey => ({
  PK: `STRIPE_EVENT#${eventId}`,
  SK: 'RECEIVED',
});

export const productKey = (productId: string): TableKey => ({ PK: `PRODUCT#${productId}`, SK: ENTITY_SK });

export const planKey = (planId: string): TableKey => ({ PK: `PLAN#${planId}`, SK: ENTITY_SK });

export const priceKey = (priceId: string): TableKey => ({ PK: `PRICE#${priceId}`, SK: ENTITY_SK });

export const taxRateKey = (taxRateId: string): TableKey => ({ PK: `TAX_RATE#${taxRateId}`, SK: ENTITY_SK });

export const couponKey = (couponId: string): TableKey => ({ PK: `COUPON#${couponId}`, SK: ENTITY_SK });

/** A coupon a customer redeemed (for all its invoices or one subscription's). */
export const discountKey = (customerId: string, discountId: string): TableKey => ({
  PK: `CUSTOMER#${customerId}`,
  SK: `${DISCOUNT_SK_PREFIX}${discountId}`,
});

export const DISCOUNT_SK_PREFIX = 'DISCOUNT#';

/** Guards "a customer holds a coupon once": put with its discount, deleted when the discount ends. */
export const couponHeldKey = (customerId: string, couponId: string): TableKey => ({
  PK: `CUSTOMER#${customerId}`,
  SK: `COUPON_HELD#${couponId}`,
});

export const subscriptionKey = (subscriptionId: string): TableKey => ({
  PK: `SUBSCRIPTION#${subscriptionId}`,
  SK: ENTITY_SK,
});

/** GSI1 "by owner": a child listed under its owner in creation order. */
export const byOwnerKey = (ownerKey: TableKey, childType: string, createdAt: string, id: string) => ({
  GSI1PK: ownerKey.PK,
  GSI1SK: `${childType.toUpperCase()}#${createdAt}#${id}`,
});

export const byOwnerPartition = (ownerKey: TableKey): string => ownerKey.PK;

export const byOwnerPrefix = (childType: string): string => `${childType.toUpperCase()}#`;

/** Guards "one active usage price per metric on a plan": created with the price, deleted on archive. */
export const planMetricKey = (planId: string, metric: string): TableKey => ({
  PK: `PLAN#${planId}`,
  SK: `METRIC#${metric}`,
});

export const pendingItemKey = (subscriptionId: string, createdAt: string, itemId: string): TableKey => ({
  PK: `SUBSCRIPTION#${subscriptionId}`,
  SK: `PENDING_ITEM#${createdAt}#${itemId}`,
});

export const PENDING_ITEM_SK_PREFIX = 'PENDING_ITEM#';

/** Billing's view of the subscription's SmartGateway budgets row (shared/domain/budget.ts). */
export const budgetProjectionKey = (subscriptionId: string): TableKey => ({
  PK: `SUBSCRIPTION#${subscriptionId}`,
  SK: 'BUDGET',
});

/** One (period, metric, price)'s counter-shard totals and rated amount; `ledger` is ledgerId(). */
export const spendLedgerKey = (subscriptionId: string, ledger: string): TableKey => ({
  PK: `SUBSCRIPTION#${subscriptionId}`,
  SK: `SPEND#${ledger}`,
});

/**
 * Where an invoice item added by the API (`/invoice-items/{id}`) is stored: its pending item key holds
 * the subscription and the moment, which its id alone does not; written with the item.
 */
export const invoiceItemLocatorKey = (itemId: string): TableKey => ({
  PK: `INVOICE_ITEM#${itemId}`,
  SK: 'LOCATOR',
});

export const usageRecordKey = (subscriptionId: string, idempotencyKey: string): TableKey => ({
  PK: `USAGE_RECORD#${subscriptionId}#${idempotencyKey}`,
  SK: 'RECORD',
});

/**
 * GSI1 keys of a usage record, for listing the records behind a usage line: partitioned like the
 * counters (the shard is the one whose counter took the record, so one hot subscription's records
 * spread over USAGE_SHARDS index partitions), sorted by metric, price, timestamp and key. Metrics and
 * price ids hold no `#`, so `<metric>#` and `<metric>#<price>#` select exactly one metric or line.
 */
export const usageRecordListingKey = (
  subscriptionId: string,
  periodStart: string,
  shard: number,
  metric: string,
  priceId: string,
  timestamp: string,
  idempotencyKey: string,
) => ({
  GSI1PK: usageRecordListingPartition(subscriptionId, periodStart, shard),
  GSI1SK: `${usageRecordListingPrefix(metric, priceId)}${timestamp}#${idempotencyKey}`,
});

export const usageRecordListingPartition = (
  subscriptionId: string,
  periodStart: string,
  shard: number,
): string => `USAGE_RECORDS#${subscriptionId}#${periodStart}#${shard}`;

/** The sort-key prefix of a period's records: all (no metric), one metric, or one line (metric + price). */
export const usageRecordListingPrefix = (metric?: string, priceId?: string): string =>
  metric === undefined ? '' : priceId === undefined ? `${metric}#` : `${metric}#${priceId}#`;

/** One counter per (period, metric, price): usage sold under a price is rated with that price. */
export const usageAggregateKey = (
  subscriptionId: string,
  shard: number,
  periodStart: string,
  metric: string,
  priceId: string,
): TableKey => ({
  PK: `USAGE_AGG#${subscriptionId}#${shard}`,
  SK: `${periodStart}#${metric}#${priceId}`,
});

export const usageAggregatePartition = (subscriptionId: string, shard: number): string =>
  `USAGE_AGG#${subscriptionId}#${shard}`;

/**
 * Sharded like the counters: a usage transaction checks only its own shard's marker, so the check
 * adds no contention beyond the counter's; closing a period writes the marker of every shard.
 */
export const periodClosedKey = (subscriptionId: string, periodStart: string, shard: number): TableKey => ({
  PK: `SUBSCRIPTION#${subscriptionId}`,
  SK: `PERIOD_CLOSED#${periodStart}#${shard}`,
});

/** A threshold invoice of the period (progressive billing), found by the invoice that bills the period. */
export const thresholdInvoiceKey = (
  subscriptionId: string,
  periodStart: string,
  invoiceId: string,
): TableKey => ({
  PK: `SUBSCRIPTION#${subscriptionId}`,
  SK: `${thresholdInvoicesPrefix(periodStart)}${invoiceId}`,
});

export const thresholdHeadKey = (subscriptionId: string, periodStart: string): TableKey => ({
  PK: `SUBSCRIPTION#${subscriptionId}`,
  SK: `THRESHOLD_HEAD#${periodStart}`,
});

export const thresholdInvoicesPrefix = (periodStart: string): string => `THRESHOLD_INVOICE#${periodStart}#`;

export const invoiceKey = (invoiceId: string): TableKey => ({ PK: `INVOICE#${invoiceId}`, SK: ENTITY_SK });

export const invoiceCounterKey = (customerId: string): TableKey => ({
  PK: `CUSTOMER#${customerId}`,
  SK: 'INVOICE_COUNTER',
});

export const REFUND_SK_PREFIX = 'REFUND#';

export const refundKey = (invoiceId: string, refundId: string): TableKey => ({
  PK: `INVOICE#${invoiceId}`,
  SK: `${REFUND_SK_PREFIX}${refundId}`,
});

/** A refund recorded but not yet accepted by Stripe: the hourly job sends it again (same idempotency key). */
export const REFUNDS_UNSENT_PARTITION = 'REFUNDS_UNSENT';
export const unsentRefundKey = (createdAt: string, refundId: string): TableKey => ({
  PK: REFUNDS_UNSENT_PARTITION,
  SK: `${createdAt}#${refundId}`,
});

export const creditNoteKey = (creditNoteId: string): TableKey => ({
  PK: `CREDIT_NOTE#${creditNoteId}`,
  SK: ENTITY_SK,
});

/** A customer's credit notes are numbered apart from its invoices, gapless too. */
export const creditNoteCounterKey = (customerId: string): TableKey => ({
  PK: `CUSTOMER#${customerId}`,
  SK: 'CREDIT_NOTE_COUNTER',
});

/** Guards "one customer per invoice prefix": created with the customer (or its first finalization). */
export const invoicePrefixKey = (prefix: string): TableKey => ({
  PK: `INVOICE_PREFIX#${prefix}`,
  SK: 'CLAIM',
});

export const creditBalanceKey = (customerId: string, currency: string): TableKey => ({
  PK: `CUSTOMER#${customerId}`,
  SK: `${CREDIT_BALANCE_SK_PREFIX}${currency}`,
});

export const CREDIT_BALANCE_SK_PREFIX = 'CREDIT_BALANCE#';

export const invoicePaymentKey = (invoiceId: string, paymentId: string): TableKey => ({
  PK: `INVOICE#${invoiceId}`,
  SK: `PAYMENT#${paymentId}`,
});

/** Keyed by the payment method's own id: a Stripe webhook names the method, not always its customer. */
export const paymentMethodKey = (paymentMethodId: string): TableKey => ({
  PK: `PAYMENT_METHOD#${paymentMethodId}`,
  SK: ENTITY_SK,
});

/** Which of the customer's payment methods is the default (at most one): one item, one guard. */
export const defaultPaymentMethodKey = (customerId: string): TableKey => ({
  PK: `CUSTOMER#${customerId}`,
  SK: 'DEFAULT_PAYMENT_METHOD',
});

/** A hosted invoice link (shared/domain/hosted-link.ts), found by its token's hash; it expires (TTL). */
export const hostedLinkKey = (tokenHash: string): TableKey => ({
  PK: `HOSTED_LINK#${tokenHash}`,
  SK: 'LINK',
});

/** When the invoice's hosted links were last revoked: every link made until then is refused. */
export const hostedLinksRevokedKey = (invoiceId: string): TableKey => ({
  PK: `INVOICE#${invoiceId}`,
  SK: 'HOSTED_LINKS_REVOKED',
});
