import type { Plan, Price } from '../../shared/domain/catalog.ts';
import type { PlanFee } from '../../shared/domain/fees.ts';

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
