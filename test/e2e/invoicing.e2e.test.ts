import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addIntervals } from '../../shared/domain/billing-period.ts';
import { SCOPES } from '../../shared/http/routes.ts';
import { budgetRowOf, subscribeOverHttp } from '../support/http-fixtures.ts';
import { startWithOperator, type TestService } from '../support/local-service.ts';

let service: TestService;
let operator: string;

beforeAll(async () => {
  ({ service, operator } = await startWithOperator());
});
afterAll(async () => service?.close());

const post = async (path: string, body?: unknown) => {
  const response = await service.call('POST', path, {
    token: operator,
    ...(body === undefined ? {} : { body }),
  });
  return response;
};

/** Product, a monthly plan ($20 flat, 0.5 cents per call), customer, subscription. */
const subscribed = () => subscribeOverHttp(service, operator, 'Loop');
const budgetRow = (subscriptionId: string) => budgetRowOf(service, subscriptionId);

describe('the money loop, locally: subscribe → usage → close period → invoice → paid → budget period rolled', () => {
  it('bills the period exactly once and rolls the SmartGateway budget when paid', async () => {
    const { customer, subscription } = await subscribed();
    const usage = await post('/api/v1/usage-records', {
      records: [
        { subscription_id: subscription.id, idempotency_key: 'u1', metric: 'calls', quantity: 301 },
        { subscription_id: subscription.id, idempotency_key: 'u2', metric: 'calls', quantity: 200 },
      ],
    });
    expect(usage.body.accepted).toBe(2);
    expect(await budgetRow(subscription.id)).toMatchObject({ current_spend: 251 }); // 501 × 0.5 = 250.5 → 251

    const afterPeriod = new Date(new Date(subscription.current_period_end).getTime() + 1000).toISOString();
    const first = await service.call('POST', `/_local/close-periods?at=${afterPeriod}`);
    expect(first.body).toMatchObject({ invoices_created: 1 });
    const again = await service.call('POST', `/_local/close-periods?at=${afterPeriod}`);
    expect(again.body).toMatchObject({ invoices_created: 0 });

    const list = await service.call('GET', `/api/v1/invoices?customer_id=${customer.id}`, {
      token: operator,
    });
    expect(list.body.data).toHaveLength(1);
    const draft = list.body.data[0];
    expect(draft).toMatchObject({
      status: 'draft',
      number: null,
      total: 2000 + 251,
      period_start: subscription.current_period_start,
    });
    expect(draft.lines.map((l: { kind: string; amount: number }) => [l.kind, l.amount])).toEqual([
      ['subscription_fee', 2000],
      ['usage', 251],
    ]);

    // Late usage for the closed period still counts until the invoice is finalized...
    const late = await post('/api/v1/usage-records', {
      subscription_id: subscription.id,
      idempotency_key: 'late-1',
      metric: 'calls',
      quantity: 99,
      timestamp: new Date(new Date(subscription.current_period_start).getTime() + 60_000).toISOString(),
    });
    expect(late.status).toBe(201);

    const finalized = await post(`/api/v1/invoices/${draft.id}/finalize`);
    expect(finalized.status).toBe(200);
    expect(finalized.body).toMatchObject({ status: 'open', total: 2000 + 300, amount_due: 2300 });
    expect(finalized.body.number).toBe(`${customer.invoice_prefix}-0001`);
    expect(customer.invoice_prefix).toMatch(/^[A-Z2-9]{8}$/);
    const total = finalized.body.lines.reduce((sum: number, l: { amount: number }) => sum + l.amount, 0);
    expect(total).toBe(finalized.body.total);

    // ...and is refused after it.
    const tooLate = await post('/api/v1/usage-records', {
      subscription_id: subscription.id,
      idempotency_key: 'late-2',
      metric: 'calls',
      quantity: 1,
      timestamp: new Date(new Date(subscription.current_period_start).getTime() + 60_000).toISOString(),
    });
    expect(tooLate).toMatchObject({ status: 409, body: { errors: [{ field: 'timestamp' }] } });
    expect((await post(`/api/v1/invoices/${draft.id}/finalize`)).status).toBe(409);

    const unpaid = await post(`/api/v1/invoices/${draft.id}/pay`, {});
    expect(unpaid.status).toBe(503);
    const paid = await post(`/api/v1/invoices/${draft.id}/pay`, { paid_out_of_band: true });
    expect(paid.body).toMatchObject({ status: 'paid', amount_paid: 2300 });
    expect((await post(`/api/v1/invoices/${draft.id}/void`)).status).toBe(409);

    const row = await budgetRow(subscription.id);
    expect(row).toMatchObject({
      period_start: draft.next_period_start,
      period_end: draft.next_period_end,
      current_spend: 0,
      last_paid_invoice_id: draft.id,
    });
    expect(Object.keys(row!).filter((k) => k.startsWith('usage#'))).toEqual([]);
    const events = (await service.call('GET', '/_local/events')).body.events as {
      detail_type: string;
      detail: { entity_id: string };
    }[];
    expect(
      events.filter((e) => e.detail_type === 'invoice.paid' && e.detail.entity_id === draft.id),
    ).toHaveLength(1);
  });

  it("numbers a customer's invoices without gaps and lets operators void or write off", async () => {
    const { customer, subscription } = await subscribed();
    // Three periods at once: the job catches up on every ended period.
    const third = addIntervals(new Date(subscription.billing_cycle_anchor), 'month', 3);
    const later = new Date(third.getTime() + 1000).toISOString();
    await service.call('POST', `/_local/close-periods?at=${later}`);
    const invoices = (
      await service.call('GET', `/api/v1/invoices?customer_id=${customer.id}`, { token: operator })
    ).body.data as { id: string; period_start: string }[];
    expect(invoices.map((i) => i.period_start)).toEqual([
      subscription.current_period_start,
      addIntervals(new Date(subscription.billing_cycle_anchor), 'month', 1).toISOString(),
      addIntervals(new Date(subscription.billing_cycle_anchor), 'month', 2).toISOString(),
    ]);
    const numbers: string[] = [];
    for (const invoice of invoices) {
      const finalized = await post(`/api/v1/invoices/${invoice.id}/finalize`);
      expect(finalized.status, JSON.stringify(finalized.body)).toBe(200);
      numbers.push(finalized.body.number);
    }
    expect(numbers.map((n) => n.slice(-4))).toEqual(['0001', '0002', '0003']);
    expect((await post(`/api/v1/invoices/${invoices[0]!.id}/void`)).body.status).toBe('void');
    expect((await post(`/api/v1/invoices/${invoices[1]!.id}/mark-uncollectible`)).body.status).toBe(
      'uncollectible',
    );
    const tenant = await service.token([SCOPES.invoicesRead], { tenantId: 'someone-else' });
    expect((await service.call('GET', `/api/v1/invoices/${invoices[2]!.id}`, { token: tenant })).status).toBe(
      404,
    );
  });
});

describe('one-time purchases through the running service', () => {
  const call = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
    service.call(method, path, { token: operator, headers, ...(body === undefined ? {} : { body }) });

  it('an item on the next invoice, retried with its Idempotency-Key, is billed once: 2000 + 2 × 4900', async () => {
    const { customer, subscription } = await subscribed();
    const product = (await call('POST', '/api/v1/products', { name: 'Onboarding' })).body;
    const price = await call('POST', '/api/v1/prices', {
      product_id: product.id,
      model: 'one_time',
      currency: 'USD',
      unit_amount: 4900,
      nickname: 'Setup',
    });
    expect(price.status).toBe(201);
    expect(price.body).toMatchObject({ plan_id: null, product_id: product.id, model: 'one_time' });

    const body = {
      customer_id: customer.id,
      subscription_id: subscription.id,
      price_id: price.body.id,
      quantity: 2,
    };
    const first = await call('POST', '/api/v1/invoice-items', body, { 'idempotency-key': 'setup-1' });
    const retried = await call('POST', '/api/v1/invoice-items', body, { 'idempotency-key': 'setup-1' });
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ kind: 'one_time', amount: 9800, unit_amount: 4900, quantity: 2 });
    expect(retried.status).toBe(201);
    expect(retried.headers.get('idempotent-replayed')).toBe('true');
    expect(retried.body).toEqual(first.body);
    const items = await call('GET', `/api/v1/invoice-items?subscription_id=${subscription.id}&pending=true`);
    expect(items.body.data.map((i: { id: string }) => i.id)).toEqual([first.body.id]);

    // A second item, deleted before the close: billed by nothing.
    const extra = await call('POST', '/api/v1/invoice-items', { ...body, quantity: 1 });
    expect((await call('DELETE', `/api/v1/invoice-items/${extra.body.id}`)).body).toEqual({
      id: extra.body.id,
      deleted: true,
    });
    expect((await call('DELETE', `/api/v1/invoice-items/${extra.body.id}`)).status).toBe(404);

    const afterPeriod = new Date(new Date(subscription.current_period_end).getTime() + 1000).toISOString();
    await service.call('POST', `/_local/close-periods?at=${afterPeriod}`);
    const invoices = (await call('GET', `/api/v1/invoices?customer_id=${customer.id}`)).body.data;
    expect(invoices).toHaveLength(1);
    expect(invoices[0].total).toBe(11_800);
    expect(
      invoices[0].lines.map((l: Record<string, unknown>) => [
        l.kind,
        l.amount,
        l.quantity,
        l.unit_amount ?? null,
      ]),
    ).toEqual([
      ['one_time', 9800, '2', 4900],
      ['subscription_fee', 2000, null, null],
    ]);
  });

  it('a one-off invoice, retried, is created, numbered and charged once; its payment moves no budget', async () => {
    const { customer, subscription } = await subscribed();
    const product = (await call('POST', '/api/v1/products', { name: 'Training' })).body;
    const training = (
      await call('POST', '/api/v1/prices', {
        product_id: product.id,
        model: 'one_time',
        currency: 'USD',
        unit_amount: 2500,
      })
    ).body;
    const request = {
      customer_id: customer.id,
      currency: 'USD',
      items: [{ price_id: training.id, quantity: 3 }],
    };
    const [first, second] = await Promise.all([
      call('POST', '/api/v1/invoices', request, { 'idempotency-key': 'training-1' }),
      call('POST', '/api/v1/invoices', request, { 'idempotency-key': 'training-1' }),
    ]);
    const retried = await call('POST', '/api/v1/invoices', request, { 'idempotency-key': 'training-1' });
    expect(first.status, JSON.stringify(first.body)).toBe(201);
    for (const again of [second, retried]) {
      expect(again.status).toBe(201);
      expect(again.body.id).toBe(first.body.id);
    }
    expect(first.body).toMatchObject({
      subscription_id: null,
      billing_reason: 'manual',
      status: 'open',
      total: 7500,
      amount_due: 7500,
      number: `${customer.invoice_prefix}-0001`,
    });
    const manual = (await call('GET', `/api/v1/invoices?customer_id=${customer.id}`)).body.data.filter(
      (i: { billing_reason: string }) => i.billing_reason === 'manual',
    );
    expect(manual).toHaveLength(1);

    const before = await budgetRow(subscription.id);
    const paid = await call('POST', `/api/v1/invoices/${first.body.id}/pay`, { paid_out_of_band: true });
    expect(paid.body).toMatchObject({ status: 'paid', amount_paid: 7500 });
    await service.settled();
    const events = (await service.call('GET', '/_local/events')).body.events as {
      detail_type: string;
      detail: { entity_id: string; schema_version: number; data: Record<string, unknown> };
    }[];
    const paidEvents = events.filter(
      (e) => e.detail_type === 'invoice.paid' && e.detail.entity_id === first.body.id,
    );
    expect(paidEvents).toHaveLength(1);
    expect(paidEvents[0]?.detail).toMatchObject({
      schema_version: 3,
      data: { subscription_id: null, billing_reason: 'manual', amount_paid: 7500 },
    });
    expect(paidEvents[0]?.detail.data.lines).toMatchObject([
      { kind: 'one_time', price_id: training.id, quantity: '3', unit_amount: 2500, amount: 7500 },
    ]);
    expect(await budgetRow(subscription.id)).toEqual(before);
  });

  it('refuses a price in another currency with 422 naming the field', async () => {
    const { customer, subscription } = await subscribed();
    const product = (await call('POST', '/api/v1/products', { name: 'Euro' })).body;
    const euro = (
      await call('POST', '/api/v1/prices', {
        product_id: product.id,
        model: 'one_time',
        currency: 'EUR',
        unit_amount: 1,
      })
    ).body;
    const item = await call('POST', '/api/v1/invoice-items', {
      customer_id: customer.id,
      subscription_id: subscription.id,
      price_id: euro.id,
      quantity: 1,
    });
    expect(item.status).toBe(422);
    expect(item.body.errors).toEqual([
      { field: 'price_id', message: `price ${euro.id} is in EUR, the invoice is in USD` },
    ]);
    const invoice = await call('POST', '/api/v1/invoices', {
      customer_id: customer.id,
      currency: 'USD',
      items: [{ price_id: euro.id, quantity: 1_000_001 }],
    });
    expect(invoice.status).toBe(400);
    expect(invoice.body.errors[0].field).toBe('items.0.quantity');
  });
});
