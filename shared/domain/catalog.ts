/**
 * The catalog (SPEC §4): products have plans, plans have prices. Plans carry the SmartGateway
 * budget and optional routing policy. Prices are immutable once created: a change is an archive
 * plus a new price, so an invoice always rates with the price it was sold at.
 */
import type { BudgetPolicy } from './budget-policy.ts';
import type { FeeTiming, PlanFee } from './fees.ts';

export type Interval = 'month' | 'year';

export type Product = {
  id: string;
  name: string;
  description: string | null;
  metadata: Record<string, string>;
  active: boolean;
  created_at: string;
  updated_at: string;
  version: number;
};

export type RoutingPolicy = {
  priority: number;
  match_expression: string;
  strategy: string;
  targets: string[];
};

export type Plan = {
  id: string;
  product_id: string;
  name: string;
  /** ISO 4217, upper case. */
  currency: string;
  interval: Interval;
  /** When the plan's fee is billed: at the start of each period (default) or at its end. */
  fee_timing: FeeTiming;
  /** SmartGateway budget per period, integer minor units of `currency`. */
  total_budget: number;
  routing_policy: RoutingPolicy | null;
  /** How the SmartGateway enforces the budget; absent on plans stored before it existed (the default). */
  budget_policy?: BudgetPolicy;
  active: boolean;
  created_at: string;
  updated_at: string;
  version: number;
};

/** `one_time`: a product's price sold once (an invoice item, a one-off invoice), never per period. */
export type PriceModel = 'flat' | 'per_unit' | 'package' | 'tiered_graduated' | 'tiered_volume' | 'one_time';

export type PriceTier = {
  /** Inclusive upper bound of the tier in units; null for the last, unbounded tier. */
  up_to: number | null;
  /** Price per unit in this tier, decimal string in minor units (may be finer than one). */
  unit_amount_decimal: string;
  /** Fixed fee for reaching this tier, integer minor units (default 0). */
  flat_amount: number;
};

export type Price = {
  id: string;
  /** The plan whose fee or usage this prices; null for a one-time price (it belongs to a product). */
  plan_id: string | null;
  /** one_time: the product it sells; null for a plan's price (its product is the plan's). */
  product_id?: string | null;
  currency: string;
  model: PriceModel;
  /** The usage metric this price rates; null for a flat (recurring) fee. */
  metric: string | null;
  /** flat: the recurring fee per period; one_time: the price of one unit. Integer minor units, else null. */
  unit_amount: number | null;
  /** per_unit: price per unit; package: price per package. Decimal string in minor units. */
  unit_amount_decimal: string | null;
  /** package: units per package (partial packages are rounded up). */
  package_size: number | null;
  /** tiered_graduated / tiered_volume: ascending tiers, the last with up_to null. */
  tiers: PriceTier[] | null;
  nickname: string | null;
  active: boolean;
  created_at: string;
  updated_at: string;
  version: number;
};

/** The plan's recurring fee per period: the sum of its active flat prices, in minor units. */
export function recurringFee(prices: readonly Price[]): number {
  return prices
    .filter((price) => price.active && price.model === 'flat')
    .reduce((sum, p) => sum + (p.unit_amount ?? 0), 0);
}

/** The plan's fee as billing uses it: amount (recurringFee), timing and interval. */
export const planFeeOf = (plan: Plan, prices: readonly Price[]): PlanFee => ({
  plan_id: plan.id,
  name: plan.name,
  fee: recurringFee(prices),
  timing: plan.fee_timing,
  interval: plan.interval,
});
