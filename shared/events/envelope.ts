import { createHash } from 'node:crypto';
import { z } from 'zod';

/**
 * The one envelope every billing event travels in (EventBridge `detail`). Consumers are idempotent
 * by `id` and drop anything whose `entity_version` is not newer than what they hold.
 */
export const EventEnvelopeSchema = z.object({
  id: z.string(),
  type: z.string(),
  schema_version: z.number().int().positive(),
  occurred_at: z.string(),
  entity_id: z.string(),
  entity_version: z.number().int().positive(),
  tenant_id: z.string().nullable(),
  data: z.record(z.string(), z.unknown()),
});

export type EventEnvelope<T = Record<string, unknown>> = Omit<z.infer<typeof EventEnvelopeSchema>, 'data'> & {
  data: T;
};

/**
 * Deterministic event id: the same stream record always yields the same id, so a batch that the
 * stream retries (or a bisected half that is re-sent) publishes duplicates consumers can recognise.
 */
export function eventId(type: string, entityId: string, entityVersion: number): string {
  const digest = createHash('sha256').update(`${type}\n${entityId}\n${entityVersion}`).digest('hex');
  // Formatted as a UUID so it reads like one in logs and EventBridge consoles.
  return `${digest.slice(0, 8)}-${digest.slice(8, 12)}-${digest.slice(12, 16)}-${digest.slice(16, 20)}-${digest.slice(20, 32)}`;
}
