import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCOPES } from '../../shared/http/routes.ts';
import { BudgetGuard } from '../../shared/smart-gateway/budget-check.ts';
import type { BudgetRow } from '../../shared/smart-gateway/budget-row.ts';
import { budgetRowOf } from '../support/http-fixtures.ts';
import { startTestService, type TestService } from '../support/local-service.ts';

/**
 * The budgets row a gateway enforces, over HTTP against `npm start`'s runtime: a plan with a hard
 * cap and thresholds at 50 %, 80 % and the forecast's 100 %; usage crosses them one by one. What is
 * owed is stated independently: 1 cent per call, so the spend is the calls sent.
 */
let service: TestService;
let operator: string;
let tenant: string;
// biome-ignore lint/suspicious/noExplicitAny: tests read bodies field by field
let subscription: any;

beforeAll(async () => {
  service = await startTestService();
  operator = await service.token(Object.values(SCOPES));
  const post = async (path: string, body: unknown, token = operator) => {
    const response = await service.call('POST', path, { token, body });
    if (response.status !== 201)
      throw new Error(`${path}: ${response.status} ${JSON.stringify(response.body)}`);
    return response.body;
  };
  const product = await post('/api/v1/products', { name: 'Capped' });
  const plan = await post('/api/v1/plans', {
    product_id: product.id,
    name: 'Capped',
    currency: 'USD',
    interval: 'month',
    total_budget: 10_000,
    budget_policy: {
      enforcement: 'hard',
      thresholds: [{ percent: 50 }, { percent: 80 }, { percent: 100, of: 'forecast' }],
    },
  });
  expect(plan.budget_policy).toEqual({
    enforcement: 'hard',
    thresholds: [{ percent: 50 }, { percent: 80 }, { percent: 100, of: 'forecast' }],
    invoice_thresholds: [],
  });
  await post('/api/v1/prices', {
    plan_id: plan.id,
    model: 'per_unit',
    metric: 'calls',
    unit_amount_decimal: '1',
  });
  const customer = await post('/api/v1/customers', { name: 'Capped Co', email: 'capped@example.com' });
  subscription = await post('/api/v1/subscriptions', { customer_id: customer.id, plan_id: plan.id });
  tenant = await service.token(Object.values(SCOPES), { tenantId: customer.id });
});
afterAll(async () => service?.close());

let sent = 0;
async function use(calls: number) {
  const response = await service.call('POST', '/api/v1/usage-records', {
    token: operator,
    body: {
      subscription_id: subscription.id,
      metric: 'calls',
      quantity: calls,
      idempotency_key: `u-${sent}`,
    },
  });
  expect(response.status).toBe(201);
  sent += calls;
  await service.settled();
}

const thresholdEvents = async () =>
  (
    (await service.call('GET', '/_local/events')).body.events as {
      detail_type: string;
      detail: { data: { threshold: string } };
    }[]
  )
    .filter((e) => e.detail_type === 'budget.threshold_crossed')
    .map((e) => e.detail.data.threshold)
    .reverse();

describe('a budget the gateway enforces', () => {
  it("the row appears with the plan's policy; GET …/budget is the same row with its sequence", async () => {
    const row = (await budgetRowOf(service, subscription.id)) as unknown as BudgetRow;
    expect(row).toMatchObject({
      enforcement: 'hard',
      total_budget: 10_000,
      current_spend: 0,
      remaining: 10_000,
    });
    const answer = await service.call('GET', `/api/v1/subscriptions/${subscription.id}/budget`, {
      token: tenant,
    });
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ sequence: row.sequence, remaining: 10_000, thresholds_crossed: [] });
  });

  it('crosses 50 %, then 80 %, each announced once; the row shows the highest', async () => {
    await use(4_000);
    expect(await thresholdEvents()).toEqual(['forecast 100%']); // 40 % in its first hour projects far past the budget
    await use(1_000);
    expect(await budgetRowOf(service, subscription.id)).toMatchObject({
      current_spend: 5_000,
      remaining: 5_000,
      highest_threshold_crossed: '50%',
    });
    await use(3_500);
    await use(100);
    expect(await thresholdEvents()).toEqual(['forecast 100%', '50%', '80%']);
    expect(await budgetRowOf(service, subscription.id)).toMatchObject({
      current_spend: 8_600,
      remaining: 1_400,
      highest_threshold_crossed: '80%',
    });
  });

  it("at the hard cap remaining is 0 and the gateway's check refuses; the billing side still counts what was sent", async () => {
    await use(1_500);
    const row = (await budgetRowOf(service, subscription.id)) as unknown as BudgetRow;
    expect(row).toMatchObject({ current_spend: sent, remaining: 0 });
    const guard = new BudgetGuard({ maxRowAgeMs: 60_000 });
    expect(guard.acceptRow(row)).toBe(true);
    const at = new Date(Date.parse(row.updated_at) + 1_000);
    expect(guard.check(subscription.id, 1, at)).toMatchObject({ allow: false, reason: 'hard_cap' });
    const budget = await service.call('GET', `/api/v1/subscriptions/${subscription.id}/budget`, {
      token: tenant,
    });
    expect(budget.body).toMatchObject({
      sequence: row.sequence,
      current_spend: 10_100,
      thresholds_crossed: ['forecast 100%', '50%', '80%'],
    });
  });

  it('a tenant may not lift its own cap; an operator may, and the row follows', async () => {
    const path = `/api/v1/subscriptions/${subscription.id}`;
    const policy = { enforcement: 'soft', thresholds: [] };
    expect(
      (await service.call('PATCH', path, { token: tenant, body: { budget_policy: policy } })).status,
    ).toBe(403);
    const raised = await service.call('PATCH', path, { token: tenant, body: { total_budget: 99_999_999 } });
    expect(raised.status).toBe(403);
    const changed = await service.call('PATCH', path, { token: operator, body: { budget_policy: policy } });
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({
      budget_policy: { enforcement: 'soft' },
      budget_policy_overridden: true,
    });
    expect(await budgetRowOf(service, subscription.id)).toMatchObject({
      enforcement: 'soft',
      current_spend: 10_100,
    });
  });

  /** A plan whose policy is `policy`: refused with 400, its errors returned. */
  const refusedPolicy = async (policy: unknown) => {
    const response = await service.call('POST', '/api/v1/plans', {
      token: operator,
      body: {
        product_id: subscription.items[0].plan_id,
        name: 'Bad',
        currency: 'USD',
        interval: 'month',
        total_budget: 1,
        budget_policy: policy,
      },
    });
    expect(response.status).toBe(400);
    return response.body.errors as { field: string; message: string }[];
  };

  it('a threshold is validated field by field', async () => {
    const errors = await refusedPolicy({ enforcement: 'hard', thresholds: [{ percent: 50, amount: 10 }] });
    expect(JSON.stringify(errors)).toContain('budget_policy.thresholds.0');
  });

  it('invoice thresholds must ascend, each once', async () => {
    expect(await refusedPolicy({ enforcement: 'hard', invoice_thresholds: [5000, 5000] })).toEqual([
      expect.objectContaining({
        field: 'budget_policy.invoice_thresholds.1',
        message: expect.stringContaining('ascending'),
      }),
    ]);
  });
});
