import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBRecord, AttributeValue as LambdaAttributeValue } from 'aws-lambda';
import { type BudgetProjection, budgetRowOf } from '../domain/budget.ts';
import { DEFAULT_BUDGET_POLICY } from '../domain/budget-policy.ts';
import type { Price } from '../domain/catalog.ts';
import type { Customer } from '../domain/customer.ts';
import type { Invoice } from '../domain/invoice.ts';
import type { Subscription } from '../domain/subscription.ts';
import {
  type BillingEventType,
  type BudgetThresholdCrossedEventData,
  type BudgetThresholdResetEventData,
  type CustomerEventData,
  EVENT_SCHEMA_VERSIONS,
  type InvoicePaidEventData,
  type SubscriptionEventData,
  type UsageAggregatedEventData,
  type UsageThresholdReachedEventData,
} from './catalog.ts';
import { type EventEnvelope, eventId } from './envelope.ts';

type Image = Record<string, unknown>;

/**
 * The one mapping from a table stream record to the events it means. Bookkeeping items (audit,
 * idempotency, webhook receipts) mean nothing outside and map to no event; so do removals.
 */
export function eventsFromStreamRecord(record: DynamoDBRecord): EventEnvelope[] {
  const newImage = imageOf(record.dynamodb?.NewImage);
  const oldImage = imageOf(record.dynamodb?.OldImage);
  if (!newImage) return [];
  const occurredAt = occurredAtOf(newImage, record);
  switch (newImage.item_type) {
    case 'customer': {
      const customer = newImage as unknown as Customer;
      if (oldImage && oldImage.version === customer.version) return [];
      const type: BillingEventType = record.eventName === 'INSERT' ? 'customer.created' : 'customer.updated';
      const data: CustomerEventData = {
        id: customer.id,
        name: customer.name,
        email: customer.email,
        stripe_customer_id: customer.stripe_customer_id,
        created_at: customer.created_at,
      };
      return [envelope(type, customer.id, customer.version, customer.id, occurredAt, data)];
    }
    case 'subscription': {
      const subscription = newImage as unknown as Subscription;
      const previous = oldImage as unknown as Subscription | undefined;
      if (previous && previous.version === subscription.version) return [];
      const type: BillingEventType = previous ? 'subscription.updated' : 'subscription.created';
      const data: SubscriptionEventData = {
        subscription_id: subscription.id,
        tenant_id: subscription.customer_id,
        customer_id: subscription.customer_id,
        plan_id: subscription.plan_id,
        items: eventItems(subscription),
        status: subscription.status,
        total_budget: subscription.total_budget,
        currency: subscription.currency,
        period_start: subscription.current_period_start,
        period_end: subscription.current_period_end,
        cancel_at_period_end: subscription.cancel_at_period_end,
        canceled_at: subscription.canceled_at,
        routing_policy: subscription.routing_policy,
        budget_policy: subscription.budget_policy ?? DEFAULT_BUDGET_POLICY,
        changes: previous ? changedFields(previous, subscription) : [],
      };
      return [
        envelope(type, subscription.id, subscription.version, subscription.customer_id, occurredAt, data),
      ];
    }
    case 'budget':
      return budgetEvents(newImage, oldImage, occurredAt);
    case 'usage_aggregate': {
      const aggregate = newImage as Record<string, unknown> & { version: number; shard: number };
      // The exact decimal text of the quantity, not the float unmarshall made of it.
      const quantity = record.dynamodb?.NewImage?.quantity?.N ?? '0';
      const price = aggregate.price as Price;
      const entityId = `${aggregate.subscription_id}#${aggregate.period_start}#${aggregate.metric}#${price.id}#${aggregate.shard}`;
      const data: UsageAggregatedEventData = {
        subscription_id: String(aggregate.subscription_id),
        tenant_id: String(aggregate.customer_id),
        metric: String(aggregate.metric),
        period_start: String(aggregate.period_start),
        period_end: String(aggregate.period_end),
        shard: aggregate.shard,
        quantity,
        records: Number(aggregate.record_count),
        price,
      };
      return [envelope('usage.aggregated', entityId, aggregate.version, data.tenant_id, occurredAt, data)];
    }
    case 'invoice': {
      const invoice = newImage as unknown as Invoice;
      if (invoice.status !== 'paid' || (oldImage as Invoice | undefined)?.status === 'paid') return [];
      const data: InvoicePaidEventData = {
        invoice_id: invoice.id,
        number: invoice.number,
        subscription_id: invoice.subscription_id,
        billing_reason: invoice.billing_reason,
        lines: invoice.lines,
        tenant_id: invoice.customer_id,
        amount_paid: invoice.amount_paid,
        subtotal: invoice.subtotal ?? invoice.total,
        tax: invoice.tax ?? 0,
        total: invoice.total,
        currency: invoice.currency,
        paid_period_start: invoice.period_start,
        paid_period_end: invoice.period_end,
        period_start: invoice.next_period_start,
        period_end: invoice.next_period_end,
      };
      return [envelope('invoice.paid', invoice.id, invoice.version, invoice.customer_id, occurredAt, data)];
    }
    default:
      return [];
  }
}

/** Events that carry their entity's whole state, so only the newest of a batch matters. */
const STATE_EVENTS = new Set(['usage.aggregated', 'budget.updated']);

/**
 * Keeps only the newest event per entity among usage aggregates and budget rows: a hot
 * subscription's shard (and so its budget) can change many times in one stream batch, and only the
 * latest total matters downstream. Other events pass through untouched and in order.
 */
export function coalesceStateEvents(events: EventEnvelope[]): EventEnvelope[] {
  const newest = new Map<string, EventEnvelope>();
  for (const event of events) {
    if (!STATE_EVENTS.has(event.type)) continue;
    const kept = newest.get(event.entity_id);
    if (!kept || kept.entity_version < event.entity_version) newest.set(event.entity_id, event);
  }
  return events.filter((event) => !STATE_EVENTS.has(event.type) || newest.get(event.entity_id) === event);
}

/**
 * A budget projection changed: its row as `budget.updated` (versioned by its sequence), each
 * threshold crossed since the old image as `budget.threshold_crossed`, and, when the period moved
 * on under a policy with thresholds, `budget.threshold_reset`. A threshold is in a period's crossed
 * list at most once, so each is announced once per period, however often the stream re-delivers.
 */
function budgetEvents(newImage: Image, oldImage: Image | undefined, occurredAt: string): EventEnvelope[] {
  const projection = newImage as unknown as BudgetProjection;
  const row = budgetRowOf(projection);
  if (!row) return [];
  const before = oldImage as unknown as BudgetProjection | undefined;
  const id = projection.subscription_id;
  const events: EventEnvelope[] = [
    envelope('budget.updated', `budget#${id}`, projection.sequence, row.tenant_id, occurredAt, row),
  ];
  const samePeriod = before?.period_start === projection.period_start;
  if (!samePeriod && before?.period_start && projection.policy.thresholds.length > 0) {
    const data: BudgetThresholdResetEventData = {
      subscription_id: id,
      tenant_id: row.tenant_id,
      period_start: row.period_start,
      period_end: row.period_end,
      previous_period_start: before.period_start,
      previously_crossed: before.crossed ?? [],
    };
    events.push(
      envelope(
        'budget.threshold_reset',
        `budget-reset#${id}#${row.period_start}`,
        1,
        row.tenant_id,
        occurredAt,
        data,
      ),
    );
  }
  const reached = projection.invoice_threshold ?? null;
  if (reached !== null && (!samePeriod || (before?.invoice_threshold ?? 0) < reached)) {
    const data: UsageThresholdReachedEventData = {
      subscription_id: id,
      tenant_id: row.tenant_id,
      threshold: reached,
      period_start: row.period_start,
      period_end: row.period_end,
      current_spend: row.current_spend,
      currency: row.currency,
    };
    const entity = `usage-threshold#${id}#${row.period_start}#${reached}`;
    events.push(envelope('usage.threshold_reached', entity, 1, row.tenant_id, occurredAt, data));
  }
  const known = new Set(samePeriod ? (before?.crossed ?? []) : []);
  for (const label of projection.crossed.filter((l) => !known.has(l))) {
    const data: BudgetThresholdCrossedEventData = {
      subscription_id: id,
      tenant_id: row.tenant_id,
      threshold: label,
      period_start: row.period_start,
      period_end: row.period_end,
      current_spend: row.current_spend,
      total_budget: row.total_budget,
      projected_spend_at_period_end: row.projected_spend_at_period_end,
      currency: row.currency,
      enforcement: row.enforcement,
    };
    const entity = `budget-threshold#${id}#${row.period_start}#${label}`;
    events.push(envelope('budget.threshold_crossed', entity, 1, row.tenant_id, occurredAt, data));
  }
  return events;
}

/** Fields a subscriber may care about, compared between the old and new image. */
const TRACKED_SUBSCRIPTION_FIELDS = [
  'plan_id',
  'items',
  'status',
  'total_budget',
  'current_period_start',
  'current_period_end',
  'cancel_at_period_end',
  'canceled_at',
  'routing_policy',
  'trial_end',
  'budget_policy',
  'default_tax_rate_ids',
] as const;

function changedFields(before: Subscription, after: Subscription): string[] {
  const value = (subscription: Subscription, field: (typeof TRACKED_SUBSCRIPTION_FIELDS)[number]) =>
    JSON.stringify(field === 'items' ? eventItems(subscription) : (subscription[field] ?? null));
  return TRACKED_SUBSCRIPTION_FIELDS.filter((field) => value(before, field) !== value(after, field));
}

/**
 * The plans a subscription image includes, base plan first: an image stored before subscriptions
 * had items holds its one plan.
 */
function eventItems(subscription: Subscription): SubscriptionEventData['items'] {
  const items = subscription.items ?? [{ plan_id: subscription.plan_id, quantity: 1 }];
  return items.filter((item) => item.quantity > 0).map(({ plan_id, quantity }) => ({ plan_id, quantity }));
}

function envelope<T extends Record<string, unknown>>(
  type: BillingEventType,
  entityId: string,
  entityVersion: number,
  tenantId: string | null,
  occurredAt: string,
  data: T,
): EventEnvelope<T> {
  return {
    id: eventId(type, entityId, entityVersion),
    type,
    schema_version: EVENT_SCHEMA_VERSIONS[type],
    occurred_at: occurredAt,
    entity_id: entityId,
    entity_version: entityVersion,
    tenant_id: tenantId,
    data,
  };
}

function imageOf(image: Record<string, LambdaAttributeValue> | undefined): Image | undefined {
  // Lambda's and the SDK's AttributeValue types differ only nominally. Numbers become JavaScript
  // numbers only where one holds them exactly; others (a huge usage total) stay decimal text, so
  // one large counter can never make its stream record unmappable.
  return image
    ? unmarshall(image as Parameters<typeof unmarshall>[0], { wrapNumbers: exactNumber })
    : undefined;
}

function exactNumber(text: string): number | string {
  const number = Number(text);
  return Number.isFinite(number) && String(number) === text ? number : text;
}

/** The entity's own change time when it has one; the stream's approximate time otherwise. */
function occurredAtOf(image: Image, record: DynamoDBRecord): string {
  if (typeof image.updated_at === 'string') return image.updated_at;
  const seconds = record.dynamodb?.ApproximateCreationDateTime;
  return new Date(seconds ? seconds * 1000 : Date.now()).toISOString();
}
