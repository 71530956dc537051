/**
 * The SmartGateway's `budgets` row: what the gateway reads on its hot path, and nothing else
 * (per-shard usage bookkeeping lives on the billing side). Billing computes the whole row and
 * publishes it as `budget.updated`, with a per-subscription `sequence` that grows with every change;
 * the sync stores a row only over an older sequence, so a duplicate or late event changes nothing.
 *
 * This file imports nothing: the gateway side can copy or import it as it is.
 */
export type Enforcement = 'none' | 'soft' | 'hard';

export type BudgetRow = {
  tenant_id: string;
  subscription_id: string;
  /** The base plan. */
  plan_id: string;
  /** Minor units of `currency`. */
  total_budget: number;
  currency: string;
  /** The period's rated usage so far, minor units (fees and one-time purchases are not API spend). */
  current_spend: number;
  /** max(0, total_budget − current_spend): what the gateway may still let through under a hard cap. */
  remaining: number;
  /** none: never refuse; soft: allow, flag as over budget; hard: refuse what `remaining` does not cover. */
  enforcement: Enforcement;
  period_start: string;
  period_end: string;
  /** The subscription's status (active, trialing, past_due, canceled, …). */
  status: string;
  cancel_at_period_end: boolean;
  /** The subscription's version the row was last computed from. */
  version: number;
  /** Grows by one with every change of the row; a gateway holding sequence n has seen every change up to n. */
  sequence: number;
  /** The label of the highest threshold crossed this period (`80%`, `5000`, `forecast 100%`), or null. */
  highest_threshold_crossed: string | null;
  /** Spend at the period's end at the period's rate so far (docs/smart-gateway.md "Forecast"). */
  projected_spend_at_period_end: number | null;
  /** When spend reaches total_budget at that rate, if within the period; null if it will not. */
  projected_exhaustion_at: string | null;
  last_paid_invoice_id: string | null;
  /** When billing computed this row (ISO 8601). */
  updated_at: string;
};
