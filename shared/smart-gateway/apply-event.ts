import { config } from '../config.ts';
import { DomainError } from '../domain/errors.ts';
import type { SubscriptionEventData } from '../events/catalog.ts';
import { type EventEnvelope, EventEnvelopeSchema } from '../events/envelope.ts';
import { logger } from '../logger.ts';
import { routingPolicyFields, SmartGatewayRepository } from '../store/smart-gateway-repository.ts';

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

function outcome(event: EventEnvelope, action: SyncOutcome['action'], detail: string): SyncOutcome {
  logger.info('billing event synced', { eventId: event.id, type: event.type, action, detail });
  return { event_id: event.id, type: event.type, action, detail };
}
