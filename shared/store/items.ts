/** Attributes that exist only for the table's keys and the stream mapping, never in API shapes. */
const INTERNAL_ATTRIBUTES = ['PK', 'SK', 'GSI1PK', 'GSI1SK', 'GSI2PK', 'GSI2SK', 'item_type'] as const;

/**
 * Fields added after items of a type were first stored, with the value an item written before them
 * means: what the code does on read instead of a migration (the old items keep their old meaning).
 */
const DEFAULTS_ON_READ: Record<string, (item: Record<string, unknown>) => Record<string, unknown>> = {
  plan: () => ({ fee_timing: 'in_advance' }),
  // Written before fees were billed in advance: the current period's fee was never invoiced.
  subscription: (item) => ({
    fee_timing: 'in_advance',
    fee_segment_start: item.current_period_start,
    fee_prepaid: false,
    billed_fee: null,
    earlier_anchors: [],
    earlier_plans: [],
  }),
  invoice: () => ({
    billing_reason: 'subscription_cycle',
    bills_usage: true,
    credit_applied: 0,
    credited_to_balance: 0,
  }),
  customer: () => ({ invoice_prefix: null }),
  // Written before one-time prices: every price was a plan's.
  price: () => ({ product_id: null }),
};

/** A stored item as its API shape: the same attributes minus keys and bookkeeping. */
export function withoutKeys<T>(item: Record<string, unknown>): T {
  const defaults = DEFAULTS_ON_READ[String(item.item_type)];
  const copy: Record<string, unknown> = { ...(defaults ? defaults(item) : {}), ...item };
  for (const attribute of INTERNAL_ATTRIBUTES) delete copy[attribute];
  return copy as T;
}
