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
