import { randomUUID } from 'node:crypto';
import type { Actor } from '../domain/principal.ts';
import { AUDIT_SK_PREFIX, auditKey, type TableKey } from './keys.ts';
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

export { AUDIT_SK_PREFIX };
