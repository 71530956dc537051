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
import {
  alignToSubscriptionPeriod,
  rollToPeriod,
  spendForPeriod,
  usageAttribute,
  usagePriceAttribute,
} from './spend.ts';

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
 *
 * The row's period is the newest period any event names: a subscription's current period (moved by
 * the period close), the period a usage record counts in, or the period an invoice.paid says is
 * current. It only moves forward, and when it moves current_spend becomes the new period's usage
 * so far. So from the moment a period ends the gateway enforces the new period's budget against the
 * new period's usage, whether or not the last invoice is paid yet (an unpaid invoice shows as
 * `status: past_due` once overdue); usage of one period is never counted against another's budget.
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
  const rolled = await repository.updateBudgetFromRow(
    { tenant_id: data.tenant_id, subscription_id: data.subscription_id },
    // Only the newest version of the subscription may correct the end of the row's period.
    (row) =>
      budget === 'applied'
        ? alignToSubscriptionPeriod(row, data.period_start, data.period_end)
        : rollToPeriod(row, data.period_start, data.period_end),
  );
  const action = budget === 'applied' || routing === 'applied' || rolled === 'applied' ? 'applied' : 'stale';
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
      // Late usage of a period the row has left: it is billed on that period's invoice, and counts
      // against no budget any more.
      if (typeof row.period_start === 'string' && data.period_start < row.period_start) return undefined;
      // Usage of a newer period than the row's: the period has ended, the row moves to the new one.
      const roll = rollToPeriod(row, data.period_start, data.period_end);
      const next = {
        ...row,
        ...roll?.set,
        [attribute]: data.quantity,
        [priceAttribute]: data.price,
      };
      const period = typeof next.period_start === 'string' ? next.period_start : data.period_start;
      spend = spendForPeriod(next, period);
      return {
        set: {
          ...roll?.set,
          [attribute]: data.quantity,
          [priceAttribute]: data.price,
          current_spend: spend,
          usage_updated_at: event.occurred_at,
        },
        remove: roll?.remove ?? [],
      };
    },
  );
  return outcome(
    event,
    result,
    result === 'stale'
      ? `shard ${data.shard} of ${data.metric} already holds ${data.quantity} or more, or its period is over`
      : `${data.metric} shard ${data.shard} = ${data.quantity}; current_spend ${spend}`,
  );
}

/**
 * An invoice was paid: the budget row moves to the period it names as current (only forward, so a
 * duplicate or late invoice.paid, or one whose period the row reached already, changes nothing;
 * the row keeps the invoice id it was last paid by). A final invoice names no period: nothing moves.
 */
async function applyInvoicePaid(event: EventEnvelope<InvoicePaidEventData>): Promise<SyncOutcome> {
  const data = event.data;
  // A one-off invoice (v3) belongs to no subscription: a one-time purchase is not API spend, so it
  // neither counts in current_spend nor moves the budget row's period (docs/billing-rules.md).
  if (data?.subscription_id === null) {
    return outcome(event, 'ignored', 'a one-off invoice: no subscription, no budget to move');
  }
  if (!data || typeof data.subscription_id !== 'string') {
    throw new DomainError('validation', `${event.type} ${event.id} lacks subscription_id`);
  }
  const subscriptionId = data.subscription_id;
  const periodStart = data.period_start;
  const periodEnd = data.period_end;
  if (typeof periodStart !== 'string' || typeof periodEnd !== 'string') {
    return outcome(event, 'ignored', 'a final invoice: no period follows it');
  }
  const { budgetsTableName, routingPoliciesTableName } = config();
  const repository = new SmartGatewayRepository(budgetsTableName, routingPoliciesTableName);
  const result = await repository.updateBudgetFromRow(
    { tenant_id: data.tenant_id, subscription_id: subscriptionId },
    (row) => {
      if (row.last_paid_invoice_id === data.invoice_id) return undefined;
      const roll = rollToPeriod(row, periodStart, periodEnd);
      return {
        set: { ...roll?.set, last_paid_invoice_id: data.invoice_id },
        remove: roll?.remove ?? [],
      };
    },
  );
  return outcome(
    event,
    result,
    result === 'stale'
      ? `invoice ${data.invoice_id} was applied already`
      : `paid; the row is at or past ${periodStart}`,
  );
}

function outcome(event: EventEnvelope, action: SyncOutcome['action'], detail: string): SyncOutcome {
  logger.info('billing event synced', { eventId: event.id, type: event.type, action, detail });
  return { event_id: event.id, type: event.type, action, detail };
}
