/** Attributes that exist only for the table's keys and the stream mapping, never in API shapes. */
const INTERNAL_ATTRIBUTES = ['PK', 'SK', 'GSI1PK', 'GSI1SK', 'GSI2PK', 'GSI2SK', 'item_type'] as const;

/** A stored item as its API shape: the same attributes minus keys and bookkeeping. */
export function withoutKeys<T>(item: Record<string, unknown>): T {
  const copy: Record<string, unknown> = { ...item };
  for (const attribute of INTERNAL_ATTRIBUTES) delete copy[attribute];
  return copy as T;
}
