import type { Plan } from '../../shared/domain/catalog.ts';

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
