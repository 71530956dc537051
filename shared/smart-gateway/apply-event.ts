import { config } from '../config.ts';
import { DomainError } from '../domain/errors.ts';
import type { SubscriptionEventData } from '../events/catalog.ts';
import { type EventEnvelope, EventEnvelopeSchema } from '../events/envelope.ts';
import { logger } from '../logger.ts';
import { routingPolicyFields, SmartGatewayRepository } from '../store/smart-gateway-repository.ts';
import type { BudgetRow } from './budget-row.ts';

/** What the SmartGateway did with one event, for logs and the local event viewer. */
export type SyncOutcome = {
  event_id: string;
  type: string;
  action: 'applied' | 'ignored' | 'stale';
  detail: string;
};

/**
 * The SmartGateway's side of SPEC §6: applies one billing event to the `budgets` and
 * `routing_policies` caches. The budgets row arrives whole in `budget.updated`, computed by billing
 * one subscription at a time; it is stored only over an older `sequence`, so a duplicate or late
 * delivery changes nothing, with one write and no read. Subscription events keep the routing policy,
 * stored only over an older version. An envelope that does not parse, or a type with no action, is
 * an error: retried, then parked in the rule's DLQ, never silently dropped.
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
      return applyRoutingPolicy(event as EventEnvelope<SubscriptionEventData>);
    case 'budget.updated':
      return applyBudgetRow(event as EventEnvelope<BudgetRow>);
    case 'usage.aggregated':
    case 'invoice.paid':
      // Billing folds these into budget.updated; a rule of an earlier release may still send them.
      return outcome(event, 'ignored', 'the budgets row comes whole in budget.updated');
    default:
      throw new DomainError(
        'not-implemented',
        `No SmartGateway action for ${event.type} v${event.schema_version}`,
      );
  }
}

async function applyRoutingPolicy(event: EventEnvelope<SubscriptionEventData>): Promise<SyncOutcome> {
  const data = event.data;
  if (!data || typeof data.subscription_id !== 'string' || typeof data.tenant_id !== 'string') {
    throw new DomainError('validation', `${event.type} ${event.id} has no subscription_id/tenant_id`);
  }
  const { budgetsTableName, routingPoliciesTableName } = config();
  const repository = new SmartGatewayRepository(budgetsTableName, routingPoliciesTableName);
  const routing = await repository.upsertRoutingPolicy({
    tenant_id: data.tenant_id,
    subscription_id: data.subscription_id,
    plan_id: data.plan_id,
    version: event.entity_version,
    last_event_id: event.id,
    updated_at: event.occurred_at,
    ...routingPolicyFields(data.routing_policy, data.status !== 'canceled'),
  });
  return outcome(
    event,
    routing,
    routing === 'stale'
      ? `version ${event.entity_version} is not newer than the stored routing policy`
      : `routing policy at version ${event.entity_version}`,
  );
}

async function applyBudgetRow(event: EventEnvelope<BudgetRow>): Promise<SyncOutcome> {
  const row = event.data;
  if (
    !row ||
    typeof row.subscription_id !== 'string' ||
    typeof row.tenant_id !== 'string' ||
    row.sequence !== event.entity_version
  ) {
    throw new DomainError('validation', `${event.type} ${event.id} is not a budgets row with its sequence`);
  }
  const { budgetsTableName, routingPoliciesTableName } = config();
  const repository = new SmartGatewayRepository(budgetsTableName, routingPoliciesTableName);
  const result = await repository.putBudgetRow({ ...row, last_event_id: event.id });
  return outcome(
    event,
    result,
    result === 'stale'
      ? `sequence ${row.sequence} is not newer than the stored row`
      : `sequence ${row.sequence}: current_spend ${row.current_spend}, remaining ${row.remaining}`,
  );
}

function outcome(event: EventEnvelope, action: SyncOutcome['action'], detail: string): SyncOutcome {
  logger.info('billing event synced', { eventId: event.id, type: event.type, action, detail });
  return { event_id: event.id, type: event.type, action, detail };
}
