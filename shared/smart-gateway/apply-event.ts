import { DomainError } from '../domain/errors.ts';
import { type EventEnvelope, EventEnvelopeSchema } from '../events/envelope.ts';
import { logger } from '../logger.ts';

/** What the SmartGateway did with one event, for logs and the local event viewer. */
export type SyncOutcome = {
  event_id: string;
  type: string;
  action: 'applied' | 'ignored' | 'stale';
  detail: string;
};

/**
 * The SmartGateway's side of SPEC §6: applies one billing event to the `budgets` and
 * `routing_policies` caches. An envelope that does not parse is an error (retried, then parked in
 * the rule's DLQ), never silently dropped.
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
    default:
      throw new DomainError(
        'not-implemented',
        `No SmartGateway action for ${event.type} v${event.schema_version}`,
      );
  }
}

function outcome(event: EventEnvelope, action: SyncOutcome['action'], detail: string): SyncOutcome {
  logger.info('billing event synced', { eventId: event.id, type: event.type, action, detail });
  return { event_id: event.id, type: event.type, action, detail };
}
