import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCOPES } from '../../shared/http/routes.ts';
import { budgetRowOf, closePeriodsAt, subscribeOverHttp } from '../support/http-fixtures.ts';
import { startWithOperator, type TestService } from '../support/local-service.ts';

/**
 * The lifecycle changes of issue 10, each reproduced over HTTP as the issue found them, with the
 * amounts stated from docs/billing-rules.md. The fixture plan: $20 a month, 0.5 cents per call.
 */
let service: TestService;
let operator: string;

beforeAll(async () => {
  ({ service, operator } = await startWithOperator());
});
afterAll(async () => service?.close());

// biome-ignore lint/suspicious/noExplicitAny: tests assert on response bodies field by field
type Body = any;
const call = async (method: string, path: string, body?: unknown): Promise<{ status: number; body: Body }> =>
  service.call(method, `/api/v1${path}`, { token: operator, ...(body === undefined ? {} : { body }) });
const post = (path: string, body?: unknown) => call('POST', path, body);
const patch = (id: string, body: unknown) => call('PATCH', `/subscriptions/${id}`, body);
const invoicesOf = async (customerId: string, query = ''): Promise<Body[]> =>
  (await call('GET', `/invoices?customer_id=${customerId}${query}`)).body.data;
const usage = (subscriptionId: string, key: string, quantity: number, timestamp?: string) =>
  post('/usage-records', {
    subscription_id: subscriptionId,
    metric: 'calls',
    quantity,
    idempotency_key: key,
    ...(timestamp ? { timestamp } : {}),
  });
const plus = (iso: string, ms: number) => new Date(new Date(iso).getTime() + ms);
const DAY = 86_400_000;

async function planOf(name: string, fee: number, extra: Record<string, unknown> = {}): Promise<string> {
  const product = await post('/products', { name });
  const plan = await post('/plans', {
    product_id: product.body.id,
    name,
    currency: 'USD',
    interval: 'month',
    total_budget: 9000,
    ...extra,
  });
  expect(plan.status, JSON.stringify(plan.body)).toBe(201);
  await post('/prices', { plan_id: plan.body.id, model: 'flat', unit_amount: fee });
  await post('/prices', {
    plan_id: plan.body.id,
    model: 'per_unit',
    metric: 'calls',
    unit_amount_decimal: '0.04',
  });
  return plan.body.id;
}

describe('cancel now', () => {
  it('bills the usage before the cancel and the time used, and takes late usage until the final invoice is finalized', async () => {
    const { customer, subscription } = await subscribeOverHttp(service, operator, 'Cancel now');
    expect((await usage(subscription.id, 'before-1', 100_000)).status).toBe(201);
    const cancelAt = plus(subscription.current_period_start, 10 * DAY);
    // The service's clock is the local one: a simulated close at the cancel moment moves it there.
    await closePeriodsAt(service, cancelAt);
    const canceled = await patch(subscription.id, { cancel_now: true });
    expect(canceled.body).toMatchObject({ status: 'canceled' });

    // A record from before the cancel arriving afterwards still counts; one after it does not.
    const late = await usage(
      subscription.id,
      'late-1',
      500,
      plus(subscription.current_period_start, DAY).toISOString(),
    );
    expect(late.status).toBe(201);
    const after = await usage(subscription.id, 'after-1', 1);
    expect(after).toMatchObject({ status: 409, body: { errors: [{ field: 'subscription_id' }] } });

    const [final] = await invoicesOf(customer.id, '&status=draft');
    expect(final).toMatchObject({ billing_reason: 'subscription_cancel', next_period_start: null });
    const finalized = await post(`/invoices/${final.id}/finalize`);
    // In arrears: the fee's used part to the cancel, and 100,500 calls × 0.5 cents.
    const used = finalized.body.lines.find((l: Body) => l.kind === 'subscription_fee');
    const periodMs =
      new Date(subscription.current_period_end).getTime() -
      new Date(subscription.current_period_start).getTime();
    expect(used.amount).toBe(Math.round((2000 * 10 * DAY) / periodMs));
    expect(finalized.body.lines.find((l: Body) => l.kind === 'usage')).toMatchObject({
      quantity: '100500',
      amount: 50_250,
    });
    expect(finalized.body.total).toBe(used.amount + 50_250);
    // Finalized: the period takes no more late usage.
    const tooLate = await usage(
      subscription.id,
      'late-2',
      1,
      plus(subscription.current_period_start, DAY).toISOString(),
    );
    expect(tooLate.status).toBe(409);
  });
});

describe('cancel at period end', () => {
  it('bills the last period once; its final invoice names no next period and its payment moves no budget row', async () => {
    const { customer, subscription } = await subscribeOverHttp(service, operator, 'Last period');
    expect((await patch(subscription.id, { cancel_at_period_end: true })).status).toBe(200);
    await closePeriodsAt(service, plus(subscription.current_period_end, 1000));
    await closePeriodsAt(service, plus(subscription.current_period_end, 40 * DAY));
    const invoices = await invoicesOf(customer.id);
    expect(invoices).toHaveLength(1);
    expect(invoices[0]).toMatchObject({
      billing_reason: 'subscription_cycle',
      total: 2000,
      period_end: subscription.current_period_end,
      next_period_start: null,
      next_period_end: null,
    });
    await post(`/invoices/${invoices[0].id}/finalize`);
    expect((await post(`/invoices/${invoices[0].id}/pay`, { paid_out_of_band: true })).body.status).toBe(
      'paid',
    );
    const row = await budgetRowOf(service, subscription.id);
    expect(row).toMatchObject({
      status: 'canceled',
      period_start: subscription.current_period_start,
      period_end: subscription.current_period_end,
    });
    const events = (await service.call('GET', '/_local/events')).body.events as Body[];
    const paid = events.find(
      (e) => e.detail_type === 'invoice.paid' && e.detail.entity_id === invoices[0].id,
    );
    expect(paid.detail).toMatchObject({ schema_version: 3, data: { period_start: null, period_end: null } });
    // A final invoice names no next period: the budget row stays on the last one (above), and the
    // sync has nothing to do with invoice.paid (billing folds it into budget.updated).
    expect(paid.deliveries).toEqual([]);
  });
});

describe('credits never vanish', () => {
  it('a downgrade billed at once leaves a credit on the customer that the next invoice uses; voiding gives it back', async () => {
    const pro = await planOf('Credit Pro', 3000);
    const basic = await planOf('Credit Basic', 1000);
    const customer = (await post('/customers', { name: 'Credit', email: 'credit@example.com' })).body;
    const subscription = (await post('/subscriptions', { customer_id: customer.id, plan_id: pro })).body;
    const [first] = await invoicesOf(customer.id);
    expect(first).toMatchObject({ billing_reason: 'subscription_create', total: 3000 });
    await post(`/invoices/${first.id}/finalize`);
    await post(`/invoices/${first.id}/pay`, { paid_out_of_band: true });

    // At the very start of the period: the whole of Pro back, the whole of Basic charged.
    const downgraded = await patch(subscription.id, { plan_id: basic, proration_behavior: 'always_invoice' });
    expect(downgraded.status, JSON.stringify(downgraded.body)).toBe(200);
    const change = (await invoicesOf(customer.id, '&status=draft'))[0];
    expect(change.billing_reason).toBe('subscription_update');
    const credit = -change.total;
    expect(credit).toBeGreaterThan(1900);
    const finalized = await post(`/invoices/${change.id}/finalize`);
    // Nothing to collect: paid at once, and the credit is on the customer.
    expect(finalized.body).toMatchObject({ status: 'paid', amount_due: 0, credited_to_balance: credit });
    expect((await call('GET', `/customers/${customer.id}`)).body.credit_balance).toEqual({ USD: credit });
    const trail = (await call('GET', `/audit/customer/${customer.id}`)).body.data as Body[];
    expect(trail.find((e) => e.action === 'customer.credit_balance_changed')).toMatchObject({
      before: { amount: 0 },
      after: { amount: credit, invoice_id: change.id },
    });

    // The next invoice (Basic's next 1000 and the period's 100,000 calls × 0.04 cents = 4000) is paid
    // by the credit first.
    expect((await usage(subscription.id, 'credit-usage', 100_000)).status).toBe(201);
    await closePeriodsAt(service, plus(subscription.current_period_end, 1000));
    const next = (await invoicesOf(customer.id, '&status=draft'))[0];
    expect(next.total).toBe(5000);
    const nextOpen = await post(`/invoices/${next.id}/finalize`);
    expect(nextOpen.body).toMatchObject({
      status: 'open',
      credit_applied: credit,
      amount_due: 5000 - credit,
    });
    expect((await call('GET', `/customers/${customer.id}`)).body.credit_balance).toEqual({ USD: 0 });

    // Voiding it gives the credit back.
    expect((await post(`/invoices/${next.id}/void`)).body.status).toBe('void');
    expect((await call('GET', `/customers/${customer.id}`)).body.credit_balance).toEqual({ USD: credit });
  });
});

describe('changing to another interval', () => {
  it('monthly → yearly is accepted: the month is billed at once and the year starts now', async () => {
    const monthly = await planOf('Monthly', 1000);
    const yearly = await planOf('Yearly', 10_000, { interval: 'year' });
    const customer = (await post('/customers', { name: 'Upgrade', email: 'upgrade@example.com' })).body;
    const subscription = (await post('/subscriptions', { customer_id: customer.id, plan_id: monthly })).body;
    expect((await usage(subscription.id, 'm-1', 1000)).status).toBe(201);
    const changed = await patch(subscription.id, { plan_id: yearly });
    expect(changed.status, JSON.stringify(changed.body)).toBe(200);
    expect(changed.body).toMatchObject({
      interval: 'year',
      billing_cycle_anchor: changed.body.current_period_start,
    });
    const update = (await invoicesOf(customer.id)).find((i) => i.billing_reason === 'subscription_update');
    expect(update.lines.map((l: Body) => [l.kind, l.amount]).sort()).toEqual(
      [
        ['proration', -1000],
        ['subscription_fee', 10_000],
        ['usage', 40],
      ].sort(),
    );
    // The usage counted before the change was billed, not stranded: the new period starts empty.
    expect((await call('GET', `/subscriptions/${subscription.id}/usage`)).body.metrics).toEqual([]);
  });
});

describe('the budget row between a period end and the payment of its invoice', () => {
  it('moves to the new period when it starts: new usage counts there, late usage of the old period counts nowhere', async () => {
    const { subscription } = await subscribeOverHttp(service, operator, 'Between periods');
    await usage(subscription.id, 'old-1', 1000);
    expect(await budgetRowOf(service, subscription.id)).toMatchObject({ current_spend: 500 });

    await closePeriodsAt(service, plus(subscription.current_period_end, 1000));
    // The invoice is not paid, yet the gateway enforces the new period: nothing spent in it yet.
    const row = await budgetRowOf(service, subscription.id);
    expect(row).toMatchObject({ current_spend: 0 });
    expect(row?.period_start).toBe(subscription.current_period_end);

    await usage(subscription.id, 'new-1', 200);
    await usage(
      subscription.id,
      'old-late',
      5000,
      plus(subscription.current_period_start, 60_000).toISOString(),
    );
    expect(await budgetRowOf(service, subscription.id)).toMatchObject({
      period_start: subscription.current_period_end,
      current_spend: 100,
    });
  });
});

describe('lists and the clock', () => {
  it('customer_id and status compose, for operators and tenants, page by page', async () => {
    const { customer, subscription } = await subscribeOverHttp(service, operator, 'Filters');
    // Three closed periods: three drafts; finalize and pay the middle one.
    const third = plus(subscription.current_period_start, 95 * DAY);
    await closePeriodsAt(service, third);
    const all = await invoicesOf(customer.id);
    expect(all.length).toBeGreaterThanOrEqual(3);
    await post(`/invoices/${all[1].id}/finalize`);
    await post(`/invoices/${all[1].id}/pay`, { paid_out_of_band: true });

    const drafts = await invoicesOf(customer.id, '&status=draft');
    expect(drafts.map((i) => i.id)).toEqual(all.filter((_, i) => i !== 1).map((i) => i.id));
    expect((await invoicesOf(customer.id, '&status=paid')).map((i) => i.id)).toEqual([all[1].id]);
    // A page of one at a time still finds every draft, in order.
    const paged: string[] = [];
    let cursor: string | null = null;
    do {
      const page: Body = await call(
        'GET',
        `/invoices?customer_id=${customer.id}&status=draft&limit=1${cursor ? `&cursor=${cursor}` : ''}`,
      );
      paged.push(...page.body.data.map((i: Body) => i.id));
      cursor = page.body.next_cursor;
    } while (cursor);
    expect(paged).toEqual(drafts.map((i) => i.id));

    const tenant = await service.token([SCOPES.invoicesRead], { tenantId: customer.id });
    const own = await service.call('GET', '/api/v1/invoices?status=paid', { token: tenant });
    expect(own.body.data.map((i: Body) => i.id)).toEqual([all[1].id]);
  });

  it('a simulated close moves the local clock: what it drafts is created before it is finalized, due after its period, audited in order', async () => {
    const { customer, subscription } = await subscribeOverHttp(service, operator, 'Clock');
    await closePeriodsAt(service, plus(subscription.current_period_end, 3 * DAY));
    const [draft] = await invoicesOf(customer.id);
    const open = (await post(`/invoices/${draft.id}/finalize`)).body;
    expect(open.created_at <= open.finalized_at).toBe(true);
    expect(open.due_date > open.period_end).toBe(true);
    const trail = (await call('GET', `/audit/invoice/${draft.id}`)).body.data as Body[];
    expect(trail.map((e) => e.action)).toEqual(['invoice.created', 'invoice.finalized']);
    expect(trail[0].at <= trail[1].at).toBe(true);
  });

  it('close-periods?days= moves the local clock from where it is, each time; a bad parameter is a 400 problem', async () => {
    const first = (await service.call('POST', '/_local/close-periods?days=10')).body;
    const second = (await service.call('POST', '/_local/close-periods?days=10')).body;
    const step = new Date(second.at).getTime() - new Date(first.at).getTime();
    expect(step).toBeGreaterThanOrEqual(10 * DAY);
    expect(step).toBeLessThan(10 * DAY + 60_000);
    // Found from outside: `at` had no bound (two years ahead billed 96 invoices in one request) and
    // `at=garbage` or a bare number was read by `new Date`.
    const farAhead = new Date(new Date(second.at).getTime() + 367 * DAY).toISOString();
    for (const query of [
      'days=soon',
      'at=yesterday',
      'at=garbage',
      'at=1',
      'days=367',
      'days=1e3',
      `at=${farAhead}`,
      'days=1&at=2027-01-01T00:00:00Z',
    ]) {
      const bad = await service.call('POST', `/_local/close-periods?${query}`);
      expect(bad.status, query).toBe(400);
      expect(bad.headers.get('content-type')).toBe('application/problem+json');
      expect(bad.body.errors[0].field).toMatch(/^(days|at)$/);
    }
    const clock = (await service.call('POST', '/_local/close-periods')).body.at;
    expect(new Date(clock).getTime() - new Date(second.at).getTime()).toBeLessThan(60_000);
  });

  // Found from outside: /_local/* took no token and checked no Origin, so any web page the developer
  // visited could POST /_local/close-periods and bill a year ahead.
  it('the local routes refuse a request from a web page of another site, or to another host name', async () => {
    const before = (await service.call('POST', '/_local/close-periods')).body.at;
    for (const headers of <Record<string, string>[]>[
      { origin: 'https://attacker.example' },
      { origin: 'null' },
      { 'sec-fetch-site': 'cross-site' },
      { host: 'attacker.example' },
    ]) {
      // node:http, not fetch: fetch never sends a Host of the caller's choosing.
      const refused = await rawPost(`${service.url}/_local/close-periods?days=300`, headers);
      expect(refused.status, JSON.stringify(headers)).toBe(403);
      expect((JSON.parse(refused.body) as { detail: string }).detail).toMatch(/local routes/);
    }
    const after = (await service.call('POST', '/_local/close-periods')).body.at;
    expect(new Date(after).getTime() - new Date(before).getTime()).toBeLessThan(60_000);
    // The page itself (same origin) and curl (no Origin) are answered.
    const port = new URL(service.url).port;
    const same = await fetch(`${service.url}/_local/budgets`, {
      headers: { origin: `http://localhost:${port}` },
    });
    expect(same.status).toBe(200);
  });
});

function rawPost(url: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => {
        body += String(chunk);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}
