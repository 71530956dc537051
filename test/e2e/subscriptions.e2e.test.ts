import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_AWS } from '../../local/dynamodb-local.ts';
import { SCOPES } from '../../shared/http/routes.ts';
import { startWithOperator, type TestService } from '../support/local-service.ts';

let service: TestService;
let operator: string;

beforeAll(async () => {
  ({ service, operator } = await startWithOperator());
});
afterAll(async () => service?.close());

type Budget = Record<string, unknown> & { subscription_id: string };
type BusEvent = {
  detail_type: string;
  detail: { entity_id: string; entity_version: number; data: { changes: string[] } };
};

async function budgetRow(subscriptionId: string): Promise<Budget | undefined> {
  await service.settled();
  const { body } = await service.call('GET', '/_local/budgets');
  return (body.items as Budget[]).find((row) => row.subscription_id === subscriptionId);
}

async function routingRow(subscriptionId: string): Promise<Budget | undefined> {
  const { body } = await service.call('GET', '/_local/routing-policies');
  return (body.items as Budget[]).find((row) => row.subscription_id === subscriptionId);
}

/** A product with two monthly USD plans (Basic 10.00/month, Pro 30.00/month) and a customer. */
async function catalogAndCustomer() {
  const post = async (path: string, body: unknown) => {
    const response = await service.call('POST', path, { token: operator, body });
    expect(response.status, `${path}: ${JSON.stringify(response.body)}`).toBe(201);
    return response.body;
  };
  const product = await post('/api/v1/products', { name: 'Attestation API' });
  const basic = await post('/api/v1/plans', {
    product_id: product.id,
    name: 'Basic',
    currency: 'USD',
    interval: 'month',
    total_budget: 10_000,
  });
  const pro = await post('/api/v1/plans', {
    product_id: product.id,
    name: 'Pro',
    currency: 'USD',
    interval: 'month',
    total_budget: 50_000,
    routing_policy: {
      priority: 10,
      match_expression: 'path =~ "/v1/*"',
      strategy: 'weighted',
      targets: ['eu-1', 'us-1'],
    },
  });
  await post('/api/v1/prices', { plan_id: basic.id, model: 'flat', unit_amount: 1000 });
  await post('/api/v1/prices', { plan_id: pro.id, model: 'flat', unit_amount: 3000 });
  const customer = await post('/api/v1/customers', { name: 'Acme', email: 'billing@acme.example' });
  return { basic, pro, customer };
}

describe('subscriptions over HTTP, kept in sync with the SmartGateway tables', () => {
  it('an add-on: previewed, added as an item, its budget in the row and its items in the event', async () => {
    const { basic, customer } = await catalogAndCustomer();
    const addOns = await service.call('POST', '/api/v1/products', {
      token: operator,
      body: { name: 'Reports' },
    });
    const seats = await service.call('POST', '/api/v1/plans', {
      token: operator,
      body: {
        product_id: addOns.body.id,
        name: 'Seats',
        currency: 'USD',
        interval: 'month',
        total_budget: 2_500,
      },
    });
    await service.call('POST', '/api/v1/prices', {
      token: operator,
      body: { plan_id: seats.body.id, model: 'flat', unit_amount: 500 },
    });
    const created = await service.call('POST', '/api/v1/subscriptions', {
      token: operator,
      body: { customer_id: customer.id, plan_id: basic.id },
    });
    const id = created.body.id as string;
    const preview = await service.call(
      'GET',
      `/api/v1/subscriptions/${id}/upcoming-invoice?items=${basic.id}:1,${seats.body.id}:3`,
      { token: operator },
    );
    expect(preview.status, JSON.stringify(preview.body)).toBe(200);
    const seatLines = (preview.body.lines as { plan_id: string; kind: string; amount: number }[]).filter(
      (line) => line.plan_id === seats.body.id,
    );
    // Three seats added seconds into the period: almost the whole 1500 for it, then 1500 for the next.
    expect(seatLines.map((line) => line.kind).sort()).toEqual(['proration', 'subscription_fee']);
    expect(seatLines.find((line) => line.kind === 'subscription_fee')?.amount).toBe(1500);
    expect((await service.call('GET', `/api/v1/subscriptions/${id}`, { token: operator })).body.version).toBe(
      1,
    );

    const bad = await service.call('GET', `/api/v1/subscriptions/${id}/upcoming-invoice?items=not a list`, {
      token: operator,
    });
    expect(bad.status).toBe(400);
    expect(bad.body.errors).toEqual([expect.objectContaining({ field: 'items' })]);

    const changed = await service.call('PATCH', `/api/v1/subscriptions/${id}`, {
      token: operator,
      body: { items: [{ plan_id: basic.id }, { plan_id: seats.body.id, quantity: 3 }] },
    });
    expect(changed.status, JSON.stringify(changed.body)).toBe(200);
    expect(changed.body).toMatchObject({
      plan_id: basic.id,
      total_budget: 12_500,
      items: [
        { plan_id: basic.id, quantity: 1 },
        { plan_id: seats.body.id, quantity: 3 },
      ],
    });
    expect(await budgetRow(id)).toMatchObject({ plan_id: basic.id, total_budget: 12_500, version: 2 });
    const events = (await service.call('GET', '/_local/events')).body.events as (BusEvent & {
      detail: { data: { items: unknown } };
    })[];
    const updated = events.find((e) => e.detail.entity_id === id && e.detail.entity_version === 2);
    expect(updated?.detail.data).toMatchObject({
      items: [
        { plan_id: basic.id, quantity: 1 },
        { plan_id: seats.body.id, quantity: 3 },
      ],
      changes: expect.arrayContaining(['items', 'total_budget']),
    });

    const duplicate = await service.call('PATCH', `/api/v1/subscriptions/${id}`, {
      token: operator,
      body: { items: [{ plan_id: basic.id }, { plan_id: basic.id, quantity: 2 }] },
    });
    expect(duplicate.status).toBe(422);
    expect(duplicate.body.errors).toEqual([expect.objectContaining({ field: 'items.1.plan_id' })]);
  });

  it('subscribe → budget row; plan change → row updated and proration pending; cancel → row shows it', async () => {
    const { basic, pro, customer } = await catalogAndCustomer();
    const created = await service.call('POST', '/api/v1/subscriptions', {
      token: operator,
      body: { customer_id: customer.id, plan_id: basic.id },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      status: 'active',
      plan_id: basic.id,
      total_budget: 10_000,
      version: 1,
    });
    expect(created.headers.get('etag')).toBe('"1"');
    const id = created.body.id as string;

    expect(await budgetRow(id)).toMatchObject({
      tenant_id: customer.id,
      plan_id: basic.id,
      total_budget: 10_000,
      current_spend: 0,
      period_start: created.body.current_period_start,
      period_end: created.body.current_period_end,
      status: 'active',
      version: 1,
    });

    const changed = await service.call('PATCH', `/api/v1/subscriptions/${id}`, {
      token: operator,
      body: { plan_id: pro.id },
      headers: { 'if-match': '"1"' },
    });
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({ plan_id: pro.id, total_budget: 50_000, version: 2 });
    expect(await budgetRow(id)).toMatchObject({ plan_id: pro.id, total_budget: 50_000, version: 2 });
    expect(await routingRow(id)).toMatchObject({
      enabled: true,
      priority: 10,
      targets: ['eu-1', 'us-1'],
      version: 2,
    });

    const events = (await service.call('GET', '/_local/events')).body.events as BusEvent[];
    const updated = events.find((e) => e.detail.entity_id === id && e.detail.entity_version === 2);
    expect(updated?.detail.data.changes).toEqual(
      expect.arrayContaining(['plan_id', 'total_budget', 'routing_policy']),
    );

    const budget = await service.call('PATCH', `/api/v1/subscriptions/${id}`, {
      token: operator,
      body: { total_budget: 75_000, version: 2 },
    });
    expect(budget.body).toMatchObject({ total_budget: 75_000, version: 3 });
    expect(await budgetRow(id)).toMatchObject({ total_budget: 75_000, version: 3 });

    const scheduled = await service.call('PATCH', `/api/v1/subscriptions/${id}`, {
      token: operator,
      body: { cancel_at_period_end: true },
    });
    expect(scheduled.body).toMatchObject({ status: 'active', cancel_at_period_end: true });
    expect(await budgetRow(id)).toMatchObject({ cancel_at_period_end: true, status: 'active' });

    const canceled = await service.call('PATCH', `/api/v1/subscriptions/${id}`, {
      token: operator,
      body: { cancel_now: true },
    });
    expect(canceled.body).toMatchObject({ status: 'canceled' });
    expect(await budgetRow(id)).toMatchObject({ status: 'canceled', version: 5 });
    expect(await routingRow(id)).toMatchObject({ enabled: false });

    const again = await service.call('PATCH', `/api/v1/subscriptions/${id}`, {
      token: operator,
      body: { total_budget: 1 },
    });
    expect(again).toMatchObject({ status: 409, body: { type: '/problems/invalid-state-transition' } });
  });

  it('re-delivering old events to the bus leaves the budget row at the newest version', async () => {
    const { basic, customer } = await catalogAndCustomer();
    const created = await service.call('POST', '/api/v1/subscriptions', {
      token: operator,
      body: { customer_id: customer.id, plan_id: basic.id },
    });
    const id = created.body.id as string;
    await service.call('PATCH', `/api/v1/subscriptions/${id}`, {
      token: operator,
      body: { total_budget: 123 },
    });
    const latest = await budgetRow(id);
    expect(latest).toMatchObject({ version: 2, total_budget: 123 });

    const events = (await service.call('GET', '/_local/events')).body.events as BusEvent[];
    const mine = events.filter((e) => e.detail.entity_id === id).reverse(); // oldest first
    const bus = new EventBridgeClient({ ...LOCAL_AWS, endpoint: service.bus.endpoint });
    // The same events again, newest first: a duplicate and an out-of-order delivery.
    for (const event of [...mine].reverse()) {
      await bus.send(
        new PutEventsCommand({
          Entries: [
            {
              Source: 'tcp.billing',
              DetailType: event.detail_type,
              Detail: JSON.stringify(event.detail),
              EventBusName: 'billing-local',
            },
          ],
        }),
      );
    }
    bus.destroy();
    expect(await budgetRow(id)).toEqual(latest);
  });

  it('two PATCHes with the same version: exactly one wins, the other gets 409', async () => {
    const { basic, customer } = await catalogAndCustomer();
    const created = await service.call('POST', '/api/v1/subscriptions', {
      token: operator,
      body: { customer_id: customer.id, plan_id: basic.id },
    });
    const id = created.body.id as string;
    const results = await Promise.all(
      [111, 222, 333, 444].map((total_budget) =>
        service.call('PATCH', `/api/v1/subscriptions/${id}`, {
          token: operator,
          body: { total_budget, version: 1 },
        }),
      ),
    );
    expect(results.map((r) => r.status).sort()).toEqual([200, 409, 409, 409]);
    const winner = results.find((r) => r.status === 200)!;
    expect(results.find((r) => r.status === 409)!.body.type).toBe('/problems/version-conflict');
    const fetched = await service.call('GET', `/api/v1/subscriptions/${id}`, { token: operator });
    expect(fetched.body).toMatchObject({ version: 2, total_budget: winner.body.total_budget });
  });

  it('tenants see and change only their own subscriptions', async () => {
    const { basic, customer } = await catalogAndCustomer();
    const created = await service.call('POST', '/api/v1/subscriptions', {
      token: operator,
      body: { customer_id: customer.id, plan_id: basic.id, trial_days: 7 },
    });
    expect(created.body.status).toBe('trialing');
    const id = created.body.id as string;
    const own = await service.token([SCOPES.subscriptionsRead, SCOPES.subscriptionsUpdate], {
      tenantId: customer.id,
    });
    const other = await service.token(
      [SCOPES.subscriptionsRead, SCOPES.subscriptionsUpdate, SCOPES.subscriptionsCreate],
      {
        tenantId: 'someone-else',
      },
    );
    expect((await service.call('GET', `/api/v1/subscriptions/${id}`, { token: own })).status).toBe(200);
    expect((await service.call('GET', `/api/v1/subscriptions/${id}`, { token: other })).status).toBe(404);
    expect(
      (
        await service.call('PATCH', `/api/v1/subscriptions/${id}`, {
          token: other,
          body: { cancel_at_period_end: true },
        })
      ).status,
    ).toBe(404);
    const list = await service.call('GET', '/api/v1/subscriptions', { token: own });
    expect(list.body.data.map((s: { id: string }) => s.id)).toEqual([id]);
    const foreign = await service.call('POST', '/api/v1/subscriptions', {
      token: other,
      body: { customer_id: customer.id, plan_id: basic.id },
    });
    expect(foreign.status).toBe(403);
  });

  it('bad subscription input names the field and writes nothing', async () => {
    const { basic } = await catalogAndCustomer();
    const noCustomer = await service.call('POST', '/api/v1/subscriptions', {
      token: operator,
      body: { customer_id: 'nope', plan_id: basic.id },
    });
    expect(noCustomer).toMatchObject({ status: 400, body: { errors: [{ field: 'customer_id' }] } });
    const noPlan = await service.call('POST', '/api/v1/subscriptions', {
      token: operator,
      body: { customer_id: 'nope', plan_id: 'nope' },
    });
    expect(noPlan).toMatchObject({ status: 400, body: { errors: [{ field: 'plan_id' }] } });
    const emptyPatch = await service.call('PATCH', '/api/v1/subscriptions/whatever', {
      token: operator,
      body: {},
    });
    expect(emptyPatch.status).toBe(400);
    const badIfMatch = await service.call('PATCH', '/api/v1/subscriptions/whatever', {
      token: operator,
      body: { total_budget: 5 },
      headers: { 'if-match': 'yesterday' },
    });
    expect(badIfMatch).toMatchObject({ status: 400, body: { errors: [{ field: 'If-Match' }] } });
  });
});
