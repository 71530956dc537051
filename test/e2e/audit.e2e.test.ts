import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCOPES } from '../../shared/http/routes.ts';
import { createSubscription } from '../../shared/use-cases/subscriptions.ts';
import { operator as operatorPrincipal } from '../support/fixtures.ts';
import { startWithOperator, type TestService } from '../support/local-service.ts';

type Entry = {
  audit_id: string;
  entity_type: string;
  entity_id: string;
  action: string;
  actor: { kind: string; subject: string; tenant_id: string | null };
  at: string;
  request_id: string | null;
  before: unknown;
  after: Record<string, unknown> | null;
};

const ENTRY_FIELDS = [
  'action',
  'actor',
  'after',
  'at',
  'audit_id',
  'before',
  'entity_id',
  'entity_type',
  'request_id',
];

let service: TestService;
let operator: string;

beforeAll(async () => {
  ({ service, operator } = await startWithOperator());
});
afterAll(async () => service?.close());

const post = async (path: string, body?: unknown) =>
  service.call('POST', path, { token: operator, ...(body === undefined ? {} : { body }) });

const audit = (type: string, id: string, token = operator, query = '') =>
  service.call('GET', `/api/v1/audit/${type}/${id}${query}`, { token });

/** Every entry of a trail, walking the pages `limit` at a time; also returns the pages seen. */
async function walk(type: string, id: string, limit: number, token = operator) {
  const entries: Entry[] = [];
  const pages: Entry[][] = [];
  let cursor: string | null = null;
  do {
    const query: string = `?limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const page = await audit(type, id, token, query);
    expect(page.status, JSON.stringify(page.body)).toBe(200);
    pages.push(page.body.data);
    entries.push(...page.body.data);
    cursor = page.body.next_cursor;
    expect(pages.length).toBeLessThan(50);
  } while (cursor !== null);
  return { entries, pages };
}

const actions = (entries: Entry[]) => entries.map((entry) => entry.action);

/** A product with a monthly USD plan and its flat price; returns the three. */
async function catalog() {
  const product = (await post('/api/v1/products', { name: 'Ledger' })).body;
  const plan = (
    await post('/api/v1/plans', {
      product_id: product.id,
      name: 'Ledger',
      currency: 'USD',
      interval: 'month',
      total_budget: 5000,
    })
  ).body;
  const price = (await post('/api/v1/prices', { plan_id: plan.id, model: 'flat', unit_amount: 2000 })).body;
  return { product, plan, price };
}

const newCustomer = async (name: string) =>
  (await post('/api/v1/customers', { name, email: `${name.toLowerCase()}@example.com` })).body;

describe('GET /api/v1/audit/{entity_type}/{entity_id}', () => {
  it("reads a customer's and a subscription's trail oldest first, as stored, page by page", async () => {
    const { product, plan, price } = await catalog();
    const customer = await newCustomer('Trail');
    const subscription = (await post('/api/v1/subscriptions', { customer_id: customer.id, plan_id: plan.id }))
      .body;
    const patch = (body: unknown) =>
      service.call('PATCH', `/api/v1/subscriptions/${subscription.id}`, { token: operator, body });
    expect((await patch({ total_budget: 7000 })).status).toBe(200);
    expect((await patch({ cancel_at_period_end: true })).status).toBe(200);

    const customerTrail = await audit('customer', customer.id);
    expect(customerTrail.status).toBe(200);
    expect(customerTrail.body.next_cursor).toBeNull();
    expect(customerTrail.body.data).toHaveLength(1);
    const [created] = customerTrail.body.data as Entry[];
    const { credit_balance: _balance, ...stored } = customer;
    expect(Object.keys(created!).sort()).toEqual(ENTRY_FIELDS); // no PK/SK/item_type
    expect(created).toMatchObject({
      entity_type: 'customer',
      entity_id: customer.id,
      action: 'customer.created',
      actor: { kind: 'user', subject: 'local-operator', tenant_id: null },
      at: customer.created_at,
      before: null,
      // The customer as stored: its credit balance is kept apart (and audited on its own).
      after: stored,
    });
    expect(created!.request_id).toEqual(expect.any(String));

    const { entries, pages } = await walk('subscription', subscription.id, 1);
    expect(actions(entries)).toEqual([
      'subscription.created',
      'subscription.updated',
      'subscription.updated',
    ]);
    expect(pages.every((page) => page.length <= 1)).toBe(true);
    expect(entries.map((entry) => entry.at)).toEqual(entries.map((entry) => entry.at).sort());
    expect(entries[1]!.after).toMatchObject({ total_budget: 7000, version: 2 });
    expect(entries[2]).toMatchObject({
      before: { cancel_at_period_end: false, version: 2 },
      after: { cancel_at_period_end: true, version: 3 },
    });
    // One page holds the same trail.
    expect((await audit('subscription', subscription.id)).body.data).toEqual(entries);

    for (const [type, entity] of [
      ['product', product],
      ['plan', plan],
      ['price', price],
    ] as const) {
      const trail = await audit(type, entity.id);
      expect(actions(trail.body.data), type).toEqual([`${type}.created`]);
    }
  });

  it("an invoice's trail holds its lifecycle in order, and its payment", async () => {
    const { plan } = await catalog();
    const customer = await newCustomer('Invoiced');
    // A subscription whose first period ended ten days ago, so the period close runs at the real
    // time (a simulated `?at=` in the future would date invoice.created after the real finalize).
    const started = new Date(Date.now() - 40 * 24 * 3600 * 1000);
    const subscription = await createSubscription(
      service.tables.billing,
      { customer_id: customer.id, plan_id: plan.id },
      { principal: operatorPrincipal(), requestId: 'backdated-setup', now: started },
      undefined,
    );
    const closed = await service.call('POST', '/_local/close-periods');
    expect(closed.body).toMatchObject({ invoices_created: 1 });
    // The period close's invoice (the plan bills in advance: the subscribe invoice came first).
    const invoice = (
      await service.call('GET', `/api/v1/invoices?customer_id=${customer.id}`, { token: operator })
    ).body.data.find((i: { billing_reason: string }) => i.billing_reason === 'subscription_cycle');
    expect((await post(`/api/v1/invoices/${invoice.id}/finalize`)).status).toBe(200);
    const paid = await post(`/api/v1/invoices/${invoice.id}/pay`, { paid_out_of_band: true });
    expect(paid.status, JSON.stringify(paid.body)).toBe(200);

    const { entries, pages } = await walk('invoice', invoice.id, 1);
    expect(pages.length).toBeGreaterThanOrEqual(entries.length);
    expect(actions(entries).slice(0, 2)).toEqual(['invoice.created', 'invoice.finalized']);
    // The payment and the invoice's change are one transaction at one instant: both, in either order.
    expect(actions(entries).slice(2).sort()).toEqual(['invoice.paid', 'payment.recorded']);
    expect(entries[0]).toMatchObject({
      entity_type: 'invoice',
      entity_id: invoice.id,
      actor: { kind: 'service', subject: 'billing-scheduler' },
      request_id: null,
      before: null,
    });
    expect(entries[1]).toMatchObject({
      before: { status: 'draft' },
      after: { status: 'open', number: expect.stringMatching(/-0001$/) },
    });
    expect(entries.find((entry) => entry.action === 'payment.recorded')).toMatchObject({
      entity_type: 'payment',
    });

    const subscriptionTrail = await audit('subscription', subscription.id);
    expect(actions(subscriptionTrail.body.data)).toEqual([
      'subscription.created',
      'subscription.period_closed',
    ]);

    const own = await service.token([SCOPES.auditRead], { tenantId: customer.id });
    expect((await audit('invoice', invoice.id, own)).body.data).toEqual(entries);
    const stranger = await service.token([SCOPES.auditRead, SCOPES.invoicesRead], {
      tenantId: 'someone-else',
    });
    const trail = await audit('invoice', invoice.id, stranger);
    const get = await service.call('GET', `/api/v1/invoices/${invoice.id}`, { token: stranger });
    expect([trail.status, get.status]).toEqual([404, 404]);
    expect(trail.body.detail).toBe(get.body.detail);
  });

  it('confines tenants to their own customer, its subscriptions and invoices; catalog trails are for operators', async () => {
    const { plan, product } = await catalog();
    const customer = await newCustomer('Tenant');
    const subscription = (await post('/api/v1/subscriptions', { customer_id: customer.id, plan_id: plan.id }))
      .body;
    const other = await newCustomer('Other');
    const otherSubscription = (
      await post('/api/v1/subscriptions', { customer_id: other.id, plan_id: plan.id })
    ).body;

    const own = await service.token([SCOPES.auditRead], { tenantId: customer.id });
    expect(actions((await audit('customer', customer.id, own)).body.data)).toEqual(['customer.created']);
    expect(actions((await audit('subscription', subscription.id, own)).body.data)).toEqual([
      'subscription.created',
    ]);

    // Another tenant's resources answer 404, exactly like the resources' own routes.
    const stranger = await service.token([SCOPES.auditRead, SCOPES.customersRead, SCOPES.subscriptionsRead], {
      tenantId: other.id,
    });
    for (const [type, id, route] of [
      ['customer', customer.id, `/api/v1/customers/${customer.id}`],
      ['subscription', subscription.id, `/api/v1/subscriptions/${subscription.id}`],
    ] as const) {
      const trail = await audit(type, id, stranger);
      const get = await service.call('GET', route, { token: stranger });
      expect(trail.status, type).toBe(404);
      expect(get.status, type).toBe(404);
      expect({ type: trail.body.type, detail: trail.body.detail }).toEqual({
        type: get.body.type,
        detail: get.body.detail,
      });
    }
    expect((await audit('subscription', otherSubscription.id, stranger)).status).toBe(200);

    const catalogTrail = await audit('product', product.id, own);
    expect(catalogTrail.status).toBe(403);
    expect(catalogTrail.body.detail).toMatch(/operator token/);

    // Missing entities are 404 for operators too.
    const missing = await audit('invoice', 'no-such-invoice');
    expect(missing).toMatchObject({ status: 404, body: { type: '/problems/not-found' } });
    expect((await audit('customer', 'no-such-customer')).status).toBe(404);
  });

  it('refuses a token without billing:audit:read, an unknown entity_type and a foreign cursor', async () => {
    const customer = await newCustomer('Refusals');
    const noScope = await service.token(Object.values(SCOPES).filter((scope) => scope !== SCOPES.auditRead));
    expect((await audit('customer', customer.id, noScope)).status).toBe(403);
    expect((await service.call('GET', `/api/v1/audit/customer/${customer.id}`)).status).toBe(401);

    const badType = await audit('payment', 'x');
    expect(badType.status).toBe(400);
    expect(badType.body.type).toBe('/problems/validation');
    expect(badType.body.errors.map((e: { field: string }) => e.field)).toEqual(['entity_type']);

    const badLimit = await audit('customer', customer.id, operator, '?limit=0');
    expect(badLimit.body.errors.map((e: { field: string }) => e.field)).toEqual(['limit']);

    // A cursor only continues the trail it came from.
    const { plan } = await catalog();
    const subscription = (await post('/api/v1/subscriptions', { customer_id: customer.id, plan_id: plan.id }))
      .body;
    await service.call('PATCH', `/api/v1/subscriptions/${subscription.id}`, {
      token: operator,
      body: { total_budget: 1 },
    });
    const first = await audit('subscription', subscription.id, operator, '?limit=1');
    expect(first.body.next_cursor).toEqual(expect.any(String));
    const foreign = await audit(
      'customer',
      customer.id,
      operator,
      `?limit=1&cursor=${encodeURIComponent(first.body.next_cursor)}`,
    );
    expect(foreign.status).toBe(400);
    expect(foreign.body.errors.map((e: { field: string }) => e.field)).toEqual(['cursor']);
  });
});
