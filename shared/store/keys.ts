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
 *
 * Entity items carry `entity_type` and `version` so the stream fan-out can map them to events
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

export const auditKey = (entityKey: TableKey, at: string, auditId: string): TableKey => ({
  PK: entityKey.PK,
  SK: `AUDIT#${at}#${auditId}`,
});

export const AUDIT_SK_PREFIX = 'AUDIT#';

export const idempotencyKey = (principal: string, route: string, key: string): TableKey => ({
  PK: `IDEMPOTENCY#${principal}#${route}#${key}`,
  SK: 'RESPONSE',
});

export const stripeEventKey = (eventId: string): TableKey => ({
  PK: `STRIPE_EVENT#${eventId}`,
  SK: 'RECEIVED',
});
