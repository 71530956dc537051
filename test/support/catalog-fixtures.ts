import type { Plan, Price } from '../../shared/domain/catalog.ts';
import type { PlanFee } from '../../shared/domain/fees.ts';
import type { ItemChoice } from '../../shared/domain/subscription-items.ts';

export const planFixture = (overrides: Partial<Plan> = {}): Plan => ({
  id: 'plan-basic',
  product_id: 'prod-1',
  name: 'Basic',
  currency: 'USD',
  interval: 'month',
  fee_timing: 'in_advance',
  total_budget: 10_000,
  routing_policy: null,
  active: true,
  created_at: '2026-01-01T00:00:00.000Z',
  updated_at: '2026-01-01T00:00:00.000Z',
  version: 1,
  ...overrides,
});

/** The plan's fee as billing uses it, for tests of the domain: `amount` a period (default 1000). */
export const feeFixture = (plan: Plan, amount = 1000): PlanFee => ({
  plan_id: plan.id,
  name: plan.name,
  fee: amount,
  timing: plan.fee_timing,
  interval: plan.interval,
});

/** A plan as a subscription item: the plan, its fee (default 1000 a period), quantity and metrics. */
export const choiceFixture = (
  plan: Plan,
  amount = 1000,
  quantity = 1,
  metrics: string[] = [],
): ItemChoice => ({ plan, fee: feeFixture(plan, amount), quantity, metrics });

/** The fee lookup billing takes, from plan fees: an unknown plan is a test bug. */
export const feesFixture =
  (...fees: PlanFee[]) =>
  (planId: string): PlanFee => {
    const fee = fees.find((f) => f.plan_id === planId);
    if (!fee) throw new Error(`no fee for ${planId} in this test`);
    return fee;
  };

/** A one-time price of a product (default 4900 USD minor units a unit). */
export const oneTimePriceFixture = (overrides: Partial<Price> = {}): Price => ({
  id: 'price-setup',
  plan_id: null,
  product_id: 'prod-1',
  currency: 'USD',
  model: 'one_time',
  metric: null,
  unit_amount: 4900,
  unit_amount_decimal: null,
  package_size: null,
  tiers: null,
  nickname: 'Setup',
  active: true,
  created_at: '2026-01-01T00:00:00.000Z',
  updated_at: '2026-01-01T00:00:00.000Z',
  version: 1,
  ...overrides,
});

/** A per-unit usage price of a plan (default metric `calls`, 1 minor unit a unit). */
export const usagePriceFixture = (overrides: Partial<Price> = {}): Price => ({
  id: 'price',
  plan_id: 'plan',
  currency: 'USD',
  model: 'per_unit',
  metric: 'calls',
  unit_amount: null,
  unit_amount_decimal: '1',
  package_size: null,
  tiers: null,
  nickname: null,
  active: true,
  created_at: '2026-01-01T00:00:00.000Z',
  updated_at: '2026-01-01T00:00:00.000Z',
  version: 1,
  ...overrides,
});
