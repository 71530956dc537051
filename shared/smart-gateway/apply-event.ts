import { config } from '../config.ts';
import { DomainError } from '../domain/errors.ts';
import { compareQuantities } from '../domain/usage.ts';
import type {
  InvoicePaidEventData,
  SubscriptionEventData,
  UsageAggregatedEventData,
} from '../events/catalog.ts';
import { type EventEnvelope, EventEnvelopeSchema } from '../events/envelope.ts';
import { logger } from '../logger.ts';
import { routingPolicyFields, SmartGatewayRepository } from '../store/smart-gateway-repository.ts';
import { spendForPeriod, usageAttribute, usageAttributesBefore, usagePriceAttribute } from './spend.ts';

/** What the SmartGateway did with one event, for logs and the local event viewer. */
export type SyncOutcome = {
  event_id: string;
  type: string;
  action: 'applied' | 'ignored' | 'stale';
  detail: string;
};

/**
 * The SmartGateway's side of SPEC §6: applies one billing event to the `budgets` and
 * `routing_policies` caches. Writes are conditional on the entity version, so duplicates and
 * out-of-order deliveries are dropped ("stale"). An envelope that does not parse, or a type with
 * no action, is an error: retried, then parked in the rule's DLQ, never silently dropped.
 */
export async function applyBillingEvent(detail: unknown): Promise<SyncOutcome> {
  const parsed = EventEnvelopeSchema.safeParse(detail);
  if (!parsed.success) {
    throw new DomainError(
      'validation',
      `Not a billing event envelope: ${parsed.error.issues[0]?.message ?? ''}`,
    );
  }
  const event: EventEnvelope = parsed.data;
  switch (event.type) {
    case 'customer.created':
      // A customer has no budget until it subscribes; the gateway denies unknown tenants by absence.
      return outcome(event, 'ignored', 'customers carry no SmartGateway state until they subscribe');
    case 'subscription.created':
    case 'subscription.updated':
      return applySubscription(event as EventEnvelope<SubscriptionEventData>);
    case 'usage.aggregated':
      return applyUsage(event as EventEnvelope<UsageAggregatedEventData>);
    case 'invoice.paid':
      return applyInvoicePaid(event as EventEnvelope<InvoicePaidEventData>);
    default:
      throw new DomainError(
        'not-implemented',
        `No SmartGateway action for ${event.type} v${event.schema_version}`,
      );
  }
}

async function applySubscription(event: EventEnvelope<SubscriptionEventData>): Promise<SyncOutcome> {
  const data = event.data;
  if (!data || typeof data.subscription_id !== 'string' || typeof data.tenant_id !== 'string') {
    throw new DomainError('validation', `${event.type} ${event.id} has no subscription_id/tenant_id`);
  }
  const { budgetsTableName, routingPoliciesTableName } = config();
  const repository = new SmartGatewayRepository(budgetsTableName, routingPoliciesTableName);
  const common = {
    tenant_id: data.tenant_id,
    subscription_id: data.subscription_id,
    plan_id: data.plan_id,
    version: event.entity_version,
    last_event_id: event.id,
    updated_at: event.occurred_at,
  };
  const budget = await repository.upsertBudget({
    ...common,
    total_budget: data.total_budget,
    currency: data.currency,
    period_start: data.period_start,
    period_end: data.period_end,
    status: data.status,
    cancel_at_period_end: data.cancel_at_period_end,
  });
  const routing = await repository.upsertRoutingPolicy({
    ...common,
    ...routingPolicyFields(data.routing_policy, data.status !== 'canceled'),
  });
  const action = budget === 'applied' || routing === 'applied' ? 'applied' : 'stale';
  return outcome(
    event,
    action,
    action === 'stale'
      ? `version ${event.entity_version} is not newer than the stored row`
      : `budget ${budget}, routing policy ${routing} at version ${event.entity_version}`,
  );
}

/**
 * A usage shard's new total: stored on the budgets row if it is larger than what the row holds
 * (totals only grow within a period, so this drops duplicates and out-of-order deliveries), then
 * current_spend is recomputed exactly from the row's totals for the row's current period.
 */
async function applyUsage(event: EventEnvelope<UsageAggregatedEventData>): Promise<SyncOutcome> {
  const data = event.data;
  if (!data || typeof data.subscription_id !== 'string' || typeof data.quantity !== 'string' || !data.price) {
    throw new DomainError('validation', `${event.type} ${event.id} lacks subscription_id, quantity or price`);
  }
  const { budgetsTableName, routingPoliciesTableName } = config();
  const repository = new SmartGatewayRepository(budgetsTableName, routingPoliciesTableName);
  const attribute = usageAttribute(data.period_start, data.metric, data.price.id, data.shard);
  const priceAttribute = usagePriceAttribute(data.period_start, data.metric, data.price.id);
  let spend = 0;
  const result = await repository.updateBudgetFromRow(
    { tenant_id: data.tenant_id, subscription_id: data.subscription_id },
    (row) => {
      const held = row[attribute];
      if (typeof held === 'string' && compareQuantities(data.quantity, held) <= 0) return undefined;
      const next = {
        ...row,
        [attribute]: data.quantity,
        [priceAttribute]: data.price,
      };
      const period = typeof row.period_start === 'string' ? row.period_start : data.period_start;
      spend = spendForPeriod(next, period);
      return {
        set: {
          [attribute]: data.quantity,
          [priceAttribute]: data.price,
          current_spend: spend,
          usage_updated_at: event.occurred_at,
        },
      };
    },
  );
  return outcome(
    event,
    result,
    result === 'stale'
      ? `shard ${data.shard} of ${data.metric} already holds ${data.quantity} or more`
      : `${data.metric} shard ${data.shard} = ${data.quantity}; current_spend ${spend}`,
  );
}

/**
 * The paid period is over: the budget row moves to the following period (only forward, so a
 * duplicate or late invoice.paid changes nothing), its current_spend becomes that period's usage
 * so far, and the usage totals of earlier periods are dropped from the row.
 */
async function applyInvoicePaid(event: EventEnvelope<InvoicePaidEventData>): Promise<SyncOutcome> {
  const data = event.data;
  if (!data || typeof data.subscription_id !== 'string' || typeof data.period_start !== 'string') {
    throw new DomainError('validation', `${event.type} ${event.id} lacks subscription_id or period_start`);
  }
  const { budgetsTableName, routingPoliciesTableName } = config();
  const repository = new SmartGatewayRepository(budgetsTableName, routingPoliciesTableName);
  const result = await repository.updateBudgetFromRow(
    { tenant_id: data.tenant_id, subscription_id: data.subscription_id },
    (row) => {
      if (typeof row.period_start === 'string' && row.period_start >= data.period_start) return undefined;
      return {
        set: {
          period_start: data.period_start,
          period_end: data.period_end,
          current_spend: spendForPeriod(row, data.period_start),
          last_paid_invoice_id: data.invoice_id,
        },
        remove: usageAttributesBefore(row, data.period_start),
      };
    },
  );
  return outcome(
    event,
    result,
    result === 'stale'
      ? `the budget row is already at or past ${data.period_start}`
      : `rolled to ${data.period_start}`,
  );
}

function outcome(event: EventEnvelope, action: SyncOutcome['action'], detail: string): SyncOutcome {
  logger.info('billing event synced', { eventId: event.id, type: event.type, action, detail });
  return { event_id: event.id, type: event.type, action, detail };
}
