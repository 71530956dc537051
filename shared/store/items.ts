import { DEFAULT_BUDGET_POLICY } from '../domain/budget-policy.ts';
import { type DraftLine, withLineIds } from '../domain/invoice.ts';

/** Attributes that exist only for the table's keys and the stream mapping, never in API shapes. */
const INTERNAL_ATTRIBUTES = [
  'PK',
  'SK',
  'GSI1PK',
  'GSI1SK',
  'GSI2PK',
  'GSI2SK',
  'GSI3PK',
  'GSI3SK',
  'item_type',
] as const;

/**
 * Fields added after items of a type were first stored, with the value an item written before them
 * means: what the code does on read instead of a migration (the old items keep their old meaning).
 */
const DEFAULTS_ON_READ: Record<string, (item: Record<string, unknown>) => Record<string, unknown>> = {
  // Written before budget policies: the gateway refused what the budget did not cover, no alerts.
  plan: () => ({ fee_timing: 'in_advance', budget_policy: DEFAULT_BUDGET_POLICY }),
  // Written before fees were billed in advance: the current period's fee was never invoiced. Written
  // before subscriptions had items: its one plan, with the fee state it kept for it.
  subscription: (item) => ({
    fee_timing: 'in_advance',
    budget_policy: DEFAULT_BUDGET_POLICY,
    budget_policy_overridden: false,
    earlier_anchors: [],
    earlier_plans: [],
    items: [
      {
        plan_id: item.plan_id,
        quantity: 1,
        fee_segment_start: item.fee_segment_start ?? item.current_period_start,
        fee_prepaid: item.fee_prepaid ?? false,
        billed_fee: item.billed_fee ?? null,
      },
    ],
  }),
  invoice: () => ({
    billing_reason: 'subscription_cycle',
    bills_usage: true,
    credit_applied: 0,
    credited_to_balance: 0,
    // Written before credit notes.
    pre_payment_credit_notes_amount: 0,
    post_payment_credit_notes_amount: 0,
    credit_note_count: 0,
  }),
  customer: () => ({ invoice_prefix: null }),
  // Written before one-time prices: every price was a plan's.
  price: () => ({ product_id: null }),
};

/** Nested fields added later, derived on read from the item as stored (after the defaults above). */
const DERIVED_ON_READ: Record<string, (item: Record<string, unknown>) => Record<string, unknown>> = {
  // Lines stored before they had ids (and usage trace fields) get the ids they would have been given.
  invoice: (item) =>
    Array.isArray(item.lines) ? { lines: withLineIds(String(item.id), item.lines as DraftLine[]) } : {},
};

/** A stored item as its API shape: the same attributes minus keys and bookkeeping. */
/**
 * Attributes written only so that the previous release can still read an item (a rollback), hidden
 * from this one: a subscription with items keeps its base item's fee state at the top level too
 * (subscriptionStoreItem), as subscriptions had it before items existed.
 */
const COMPATIBILITY_ONLY: Record<string, (item: Record<string, unknown>) => readonly string[]> = {
  subscription: (item) =>
    Array.isArray(item.items) ? ['fee_segment_start', 'fee_prepaid', 'billed_fee'] : [],
};

export function withoutKeys<T>(item: Record<string, unknown>): T {
  const type = String(item.item_type);
  const defaults = DEFAULTS_ON_READ[type];
  const derived = DERIVED_ON_READ[type];
  const merged: Record<string, unknown> = { ...(defaults ? defaults(item) : {}), ...item };
  const copy: Record<string, unknown> = { ...merged, ...(derived ? derived(merged) : {}) };
  for (const attribute of INTERNAL_ATTRIBUTES) delete copy[attribute];
  for (const attribute of COMPATIBILITY_ONLY[type]?.(item) ?? []) delete copy[attribute];
  return copy as T;
}
