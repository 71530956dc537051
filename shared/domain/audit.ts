/**
 * The entities whose audit trail can be read (GET /api/v1/audit/{entity_type}/{entity_id}). Each
 * keeps its trail in its own partition; an invoice's trail also holds its payments' entries, and a
 * subscription's its pending items' (they are stored under the owner's partition).
 */
export const AUDITED_ENTITY_TYPES = [
  'customer',
  'product',
  'plan',
  'price',
  'tax_rate',
  'coupon',
  'subscription',
  'invoice',
  'credit_note',
] as const;

export type AuditedEntityType = (typeof AUDITED_ENTITY_TYPES)[number];
