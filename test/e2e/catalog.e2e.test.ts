import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCOPES } from '../../shared/http/routes.ts';
import { startTestService, type TestService } from '../support/local-service.ts';

let service: TestService;
let operatorToken: string;

beforeAll(async () => {
  service = await startTestService();
  operatorToken = await service.token([SCOPES.catalogWrite, SCOPES.catalogRead]);
});
afterAll(async () => service?.close());

const post = (path: string, body: unknown, headers: Record<string, string> = {}, token = operatorToken) =>
  service.call('POST', `/api/v1${path}`, { token, body, headers });
const get = (path: string, token = operatorToken) => service.call('GET', `/api/v1${path}`, { token });
const fieldsOf = (response: { body: { errors?: { field: string }[] } }) =>
  (response.body.errors ?? []).map((e) => e.field);

const routingPolicy = {
  priority: 100,
  match_expression: 'request.path startsWith "/attest"',
  strategy: 'weighted',
  targets: ['eu-west-1', 'eu-central-1'],
};

async function newProductAndPlan() {
  const product = await post('/products', { name: 'Attestations', description: 'Signed attestations' });
  expect(product.status).toBe(201);
  const plan = await post('/plans', {
    product_id: product.body.id,
    name: 'Gold monthly',
    currency: 'eur',
    interval: 'month',
    total_budget: 250_000,
    routing_policy: routingPolicy,
  });
  expect(plan.status).toBe(201);
  return { product: product.body, plan: plan.body };
}

describe('catalog over HTTP on the local service', () => {
  it('an operator builds a product, a plan with a routing policy, and flat, per-unit and tiered prices', async () => {
    const { product, plan } = await newProductAndPlan();
    expect(product).toMatchObject({ name: 'Attestations', description: 'Signed attestations', version: 1 });
    expect(plan).toMatchObject({
      product_id: product.id,
      currency: 'EUR',
      interval: 'month',
      total_budget: 250_000,
      routing_policy: routingPolicy,
      active: true,
      version: 1,
    });

    const flat = await post('/prices', { plan_id: plan.id, model: 'flat', unit_amount: 9_900 });
    const perUnit = await post('/prices', {
      plan_id: plan.id,
      model: 'per_unit',
      metric: 'attestations',
      unit_amount_decimal: '0.04',
    });
    const tiered = await post('/prices', {
      plan_id: plan.id,
      model: 'tiered_graduated',
      metric: 'api.calls',
      nickname: 'API calls',
      tiers: [
        { up_to: 10_000, unit_amount_decimal: '0' },
        { up_to: null, unit_amount_decimal: '0.015', flat_amount: 500 },
      ],
    });
    expect([flat.status, perUnit.status, tiered.status]).toEqual([201, 201, 201]);
    expect(flat.body).toMatchObject({ model: 'flat', currency: 'EUR', metric: null, unit_amount: 9_900 });
    expect(perUnit.body).toMatchObject({ metric: 'attestations', unit_amount_decimal: '0.04', tiers: null });
    expect(tiered.body.tiers).toEqual([
      { up_to: 10_000, unit_amount_decimal: '0', flat_amount: 0 },
      { up_to: null, unit_amount_decimal: '0.015', flat_amount: 500 },
    ]);

    expect(await get(`/products/${product.id}`)).toMatchObject({ status: 200, body: product });
    expect(await get(`/plans/${plan.id}`)).toMatchObject({ status: 200, body: plan });
    expect(await get(`/prices/${tiered.body.id}`)).toMatchObject({ status: 200, body: tiered.body });
    const plansOfProduct = await get(`/plans?product_id=${product.id}`);
    expect(plansOfProduct.body).toEqual({ data: [plan], next_cursor: null });
    const pricesOfPlan = await get(`/prices?plan_id=${plan.id}&limit=2`);
    expect(pricesOfPlan.body.data.map((p: { id: string }) => p.id)).toEqual([flat.body.id, perUnit.body.id]);
    const rest = await get(`/prices?plan_id=${plan.id}&limit=2&cursor=${pricesOfPlan.body.next_cursor}`);
    expect(rest.body.data.map((p: { id: string }) => p.id)).toEqual([tiered.body.id]);
    expect((await get('/products?limit=100')).body.data.map((p: { id: string }) => p.id)).toContain(
      product.id,
    );
    expect((await get('/plans?limit=100')).body.data.map((p: { id: string }) => p.id)).toContain(plan.id);

    expect((await get('/plans/no-such-plan')).body).toMatchObject({
      status: 404,
      type: '/problems/not-found',
    });
    // Catalog items flow through the table stream too; they map to no event and must not dead-letter.
    await service.settled();
    expect(service.streamDeadLetters()).toEqual([]);
  });

  it('a tenant token reads the catalog but may not change it; a token without catalog scopes gets 403', async () => {
    const { product, plan } = await newProductAndPlan();
    const tenant = await service.token([SCOPES.catalogRead, SCOPES.catalogWrite], { tenantId: 'tenant-1' });
    expect((await get(`/plans/${plan.id}`, tenant)).status).toBe(200);
    expect((await get(`/plans?product_id=${product.id}`, tenant)).body.data).toHaveLength(1);
    const create = await post('/plans', { ...planBody(product.id) }, {}, tenant);
    expect(create).toMatchObject({ status: 403, body: { type: '/problems/forbidden' } });
    expect(create.headers.get('content-type')).toBe('application/problem+json');

    const noCatalog = await service.token([SCOPES.customersRead, SCOPES.customersCreate]);
    expect((await get(`/plans/${plan.id}`, noCatalog)).status).toBe(403);
    expect((await post('/products', { name: 'X' }, {}, noCatalog)).status).toBe(403);
    const readOnly = await service.token([SCOPES.catalogRead]);
    expect((await post('/products', { name: 'X' }, {}, readOnly)).status).toBe(403);
  });

  it('refuses money as a float and unit prices as JSON numbers, naming the field', async () => {
    const { product, plan } = await newProductAndPlan();
    const floatBudget = await post('/plans', { ...planBody(product.id), total_budget: 10.5 });
    expect(floatBudget).toMatchObject({ status: 400, body: { type: '/problems/validation' } });
    expect(fieldsOf(floatBudget)).toEqual(['total_budget']);

    const numeric = await post('/prices', {
      plan_id: plan.id,
      model: 'per_unit',
      metric: 'attestations',
      unit_amount_decimal: 0.04,
    });
    expect(numeric.status).toBe(400);
    expect(fieldsOf(numeric)).toEqual(['unit_amount_decimal']);
    expect(numeric.body.errors[0].message).toMatch(/string/);

    const unsupported = await post('/plans', { ...planBody(product.id), currency: 'XYZ' });
    expect(fieldsOf(unsupported)).toEqual(['currency']);
  });

  it("refuses another model's field on a price as an unknown field, and a broken tier ladder by tier", async () => {
    const { plan } = await newProductAndPlan();
    const mixed = await post('/prices', {
      plan_id: plan.id,
      model: 'per_unit',
      metric: 'attestations',
      unit_amount_decimal: '1',
      tiers: [{ up_to: null, unit_amount_decimal: '1' }],
    });
    expect(mixed.status).toBe(400);
    expect(mixed.body.errors).toEqual([{ field: 'tiers', message: 'is not a known field' }]);

    const ladder = await post('/prices', {
      plan_id: plan.id,
      model: 'tiered_volume',
      metric: 'seats',
      tiers: [
        { up_to: 10, unit_amount_decimal: '5' },
        { up_to: 10, unit_amount_decimal: '4' },
        { up_to: null, unit_amount_decimal: '3' },
      ],
    });
    expect(fieldsOf(ladder)).toEqual(['tiers.1.up_to']);

    const noModel = await post('/prices', { plan_id: plan.id, unit_amount: 1 });
    expect(fieldsOf(noModel)).toEqual(['model']);
  });

  it('a retried POST /plans with the same Idempotency-Key returns the same plan', async () => {
    const { product } = await newProductAndPlan();
    const headers = { 'idempotency-key': `plan-${Date.now()}` };
    const first = await post('/plans', planBody(product.id), headers);
    const retry = await post('/plans', planBody(product.id), headers);
    expect(first.status).toBe(201);
    expect(retry).toMatchObject({ status: 201, body: first.body });
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect((await get(`/plans?product_id=${product.id}`)).body.data).toHaveLength(2); // + newProductAndPlan's
  });

  it('archives a price over HTTP; a second archive is a 409 problem; the metric can then be priced again', async () => {
    const { plan } = await newProductAndPlan();
    const body = { plan_id: plan.id, model: 'per_unit', metric: 'attestations', unit_amount_decimal: '0.04' };
    const price = await post('/prices', body);
    const clash = await post('/prices', { ...body, unit_amount_decimal: '0.03' });
    expect(clash).toMatchObject({ status: 409, body: { type: '/problems/conflict' } });
    expect(clash.body.detail).toContain(price.body.id);

    const archived = await post(`/prices/${price.body.id}/archive`, undefined);
    expect(archived).toMatchObject({ status: 200, body: { id: price.body.id, active: false, version: 2 } });
    const again = await post(`/prices/${price.body.id}/archive`, undefined);
    expect(again).toMatchObject({ status: 409, body: { type: '/problems/invalid-state-transition' } });
    expect(again.headers.get('content-type')).toBe('application/problem+json');

    expect((await post('/prices', { ...body, unit_amount_decimal: '0.03' })).status).toBe(201);
    const withBody = await post(`/prices/${price.body.id}/archive`, { reason: 'x' });
    expect(withBody.status).toBe(400);
  });
});

function planBody(productId: string) {
  return { product_id: productId, name: 'Silver', currency: 'USD', interval: 'year', total_budget: 1_000 };
}
