import type { BudgetPolicy } from '../domain/budget-policy.ts';
import type { Price, RoutingPolicy } from '../domain/catalog.ts';
import type { Customer } from '../domain/customer.ts';
import type { Invoice, InvoiceLine } from '../domain/invoice.ts';
import type { SubscriptionStatus } from '../domain/subscription.ts';
import type { Enforcement } from '../smart-gateway/budget-row.ts';

/**
 * Every event type billing publishes, with its current schema version. A breaking change to an
 * event's `data` bumps its version; consumers switch on (type, schema_version).
 */
export const EVENT_SCHEMA_VERSIONS = {
  'customer.created': 1,
  'customer.updated': 1,
  'subscription.created': 1,
  'subscription.updated': 1,
  'usage.aggregated': 1,
  // 2: period_start and period_end are null on a final invoice (nothing follows it).
  // 3: subscription_id is null on a one-off invoice; billing_reason and the lines are carried.
  //    (Since added, not breaking: subtotal, tax and total, and each line's taxes.)
  'invoice.paid': 3,
  'budget.updated': 1,
  'budget.threshold_crossed': 1,
  'budget.threshold_reset': 1,
  'usage.threshold_reached': 1,
} as const;

export type BillingEventType = keyof typeof EVENT_SCHEMA_VERSIONS;

export type CustomerEventData = Pick<Customer, 'id' | 'name' | 'email' | 'stripe_customer_id' | 'created_at'>;

/**
 * subscription.created / subscription.updated: the SmartGateway `budgets` row (SPEC §6) and the
 * routing policy, plus what changed. current_spend is not billing's to send here: usage moves it.
 */
export type SubscriptionEventData = {
  subscription_id: string;
  tenant_id: string;
  customer_id: string;
  /** The base plan (the first item's). */
  plan_id: string;
  /** Every plan the subscription includes, base plan first; total_budget is theirs summed unless set. */
  items: { plan_id: string; quantity: number }[];
  status: SubscriptionStatus;
  total_budget: number;
  currency: string;
  period_start: string;
  period_end: string;
  cancel_at_period_end: boolean;
  canceled_at: string | null;
  routing_policy: RoutingPolicy | null;
  /** How the gateway enforces the budget and the thresholds that alert (the base plan's unless set). */
  budget_policy: BudgetPolicy;
  /** Fields that differ from the previous version; empty for subscription.created. */
  changes: string[];
};

/**
 * usage.aggregated: one counter shard of one metric and period, after a change. Quantities only
 * grow within a period, so the shard's quantity orders these events as well as its version does.
 * Coalesced by the fan-out: one event per shard per stream batch, carrying the latest total.
 */
export type UsageAggregatedEventData = {
  subscription_id: string;
  tenant_id: string;
  metric: string;
  period_start: string;
  period_end: string;
  shard: number;
  /** The shard's exact total so far, a decimal string. */
  quantity: string;
  records: number;
  /** The price that rates this metric in this period (snapshot taken with the first record). */
  price: Price;
};

/**
 * invoice.paid: an invoice was paid. `period_start`/`period_end` are the subscription period current
 * once it is paid (the period whose fee it prepaid, or the one after the period it closed); the
 * SmartGateway moves the budget row forward to it if the row is not there yet. Null on a final
 * invoice (cancel now, or the last period of a cancellation at period end): nothing follows it.
 * A one-off invoice (`billing_reason: manual`) has no subscription: subscription_id and both
 * periods are null, and the SmartGateway moves nothing (a one-time purchase is not API spend).
 */
export type InvoicePaidEventData = {
  invoice_id: string;
  number: string | null;
  subscription_id: string | null;
  billing_reason: Invoice['billing_reason'];
  /** What was paid for, as on the invoice (one_time lines carry price_id, quantity, unit_amount). */
  lines: InvoiceLine[];
  tenant_id: string;
  amount_paid: number;
  /** The invoice's figures (invoice-tax.ts): Σ lines, their taxes, and subtotal + exclusive taxes. */
  subtotal: number;
  tax: number;
  total: number;
  currency: string;
  paid_period_start: string;
  paid_period_end: string;
  period_start: string | null;
  period_end: string | null;
};

/**
 * budget.updated: the data is the SmartGateway budgets row (shared/smart-gateway/budget-row.ts),
 * whole; `entity_version` is its `sequence`. Store it over an older sequence only.
 */

/** budget.threshold_crossed: once per period per threshold, when the spend (or its forecast) reaches it. */
export type BudgetThresholdCrossedEventData = {
  subscription_id: string;
  tenant_id: string;
  /** Its label: `80%`, `5000` (minor units), `forecast 100%`. */
  threshold: string;
  period_start: string;
  period_end: string;
  current_spend: number;
  total_budget: number;
  projected_spend_at_period_end: number | null;
  currency: string;
  enforcement: Enforcement;
};

/**
 * usage.threshold_reached: the period's rated usage passed an invoice threshold (progressive billing),
 * once per period per threshold; billing's threshold invoicer then invoices the usage so far. A jump
 * past several thresholds is one event, for the highest.
 */
export type UsageThresholdReachedEventData = {
  subscription_id: string;
  tenant_id: string;
  /** Minor units of rated usage. */
  threshold: number;
  period_start: string;
  period_end: string;
  current_spend: number;
  currency: string;
};

/** budget.threshold_reset: a new period started; every threshold may be crossed again. */
export type BudgetThresholdResetEventData = {
  subscription_id: string;
  tenant_id: string;
  period_start: string;
  period_end: string;
  previous_period_start: string;
  /** What the previous period had crossed. */
  previously_crossed: string[];
};
