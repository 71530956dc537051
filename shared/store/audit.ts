import { randomUUID } from 'node:crypto';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { AuditedEntityType } from '../domain/audit.ts';
import { type Actor, actorOf, type Caller } from '../domain/principal.ts';
import { dynamo } from './client.ts';
import { withoutKeys } from './items.ts';
import {
  AUDIT_SK_PREFIX,
  auditKey,
  couponKey,
  creditNoteKey,
  customerKey,
  invoiceKey,
  planKey,
  priceKey,
  productKey,
  subscriptionKey,
  type TableKey,
  taxRateKey,
} from './keys.ts';
import { decodeCursor, encodeCursor, type Page } from './pagination.ts';
import type { TransactItem } from './transact.ts';

/** An append-only record of one change: who, what, when, before and after (SPEC §7.5). */
export type AuditEntry = {
  audit_id: string;
  entity_type: string;
  entity_id: string;
  action: string;
  actor: Actor;
  at: string;
  request_id: string | null;
  before: unknown;
  after: unknown;
};

export type AuditDraft = Omit<AuditEntry, 'audit_id'>;

/** The one way use cases describe a change for the audit trail. */
export function auditDraft(
  actor: Actor,
  at: Date | string,
  entityType: string,
  entityId: string,
  action: string,
  before: unknown,
  after: unknown,
  requestId: string | null = null,
): AuditDraft {
  return {
    entity_type: entityType,
    entity_id: entityId,
    action,
    actor,
    at: typeof at === 'string' ? at : at.toISOString(),
    request_id: requestId,
    before,
    after,
  };
}

/** The audit entry of a change a use case makes for `caller`: its actor, request id and time. */
export const auditBy = (
  caller: Caller,
  entityType: string,
  entityId: string,
  action: string,
  before: unknown,
  after: unknown,
): AuditDraft =>
  auditDraft(
    actorOf(caller.principal),
    caller.now,
    entityType,
    entityId,
    action,
    before,
    after,
    caller.requestId,
  );

/** The audit Put that joins the transaction of the change it records; it never overwrites. */
export function auditPut(tableName: string, entityKey: TableKey, draft: AuditDraft): TransactItem {
  const entry: AuditEntry = { audit_id: randomUUID(), ...draft };
  return {
    Put: {
      TableName: tableName,
      Item: { ...auditKey(entityKey, draft.at, entry.audit_id), item_type: 'audit', ...entry },
      ConditionExpression: 'attribute_not_exists(PK)',
    },
  };
}

/** The item key of each audited entity: its trail lives in the same partition. */
const ENTITY_KEYS: Record<AuditedEntityType, (id: string) => TableKey> = {
  customer: customerKey,
  product: productKey,
  plan: planKey,
  price: priceKey,
  tax_rate: taxRateKey,
  credit_note: creditNoteKey,
  coupon: couponKey,
  subscription: subscriptionKey,
  invoice: invoiceKey,
};

/**
 * One page of an entity's audit trail, oldest first (SK = AUDIT#<at>#<audit id>), each entry as
 * stored. The partition also holds the entries of what is stored under the entity (an invoice's
 * payments, a subscription's pending items). Strongly consistent, so a trail read just after a
 * change includes it. Does not check that the entity exists: the caller does (an empty page
 * cannot tell a missing entity from a cursor past the end).
 */
export async function pageAuditTrail(
  tableName: string,
  entityType: AuditedEntityType,
  entityId: string,
  limit: number,
  cursor: string | undefined,
): Promise<Page<AuditEntry>> {
  const partition = ENTITY_KEYS[entityType](entityId).PK;
  const { Items, LastEvaluatedKey } = await dynamo().send(
    new QueryCommand({
      TableName: tableName,
      KeyConditionExpression: 'PK = :pk AND begins_with(SK, :prefix)',
      ExpressionAttributeValues: { ':pk': partition, ':prefix': AUDIT_SK_PREFIX },
      ConsistentRead: true,
      Limit: limit,
      ExclusiveStartKey: decodeCursor(cursor, { attribute: 'PK', value: partition, prefix: AUDIT_SK_PREFIX }),
    }),
  );
  return {
    data: (Items ?? []).map((item) => withoutKeys<AuditEntry>(item)),
    next_cursor: encodeCursor(LastEvaluatedKey),
  };
}

export { AUDIT_SK_PREFIX };
