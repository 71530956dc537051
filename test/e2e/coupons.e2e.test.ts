import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closePeriodsAt, createdOverHttp, oneOffBuyer, subscribeOverHttp } from '../support/http-fixtures.ts';
import { startWithOperator, type TestService } from '../support/local-service.ts';

/**
 * Coupons over HTTP. The expected amounts are worked by hand from the rule as the docs state it
 * (a percent of what the invoice bills before tax, rounded once, half away from zero; an amount off
 * never below zero; tax owed on the discounted price), not from the code's formula.
 */
let service: TestService;
let operator: string;

beforeAll(async () => {
  ({ service, operator } = await startWithOperator());
});
afterAll(async () => service?.close());

const call = (method: string, path: string, body?: unknown) =>
  service.call(method, path, { token: operator, ...(body === undefined ? {} : { body }) });

const created = (path: string, body: unknown) => createdOverHttp(service, operator, path, body);

let productId: string;
beforeAll(async () => {
  productId = (await created('/api/v1/products', { name: 'Coupons' })).id;
});

/** A customer (with these tax rates) and `invoice()`, a one-off invoice of one unit of `unitAmount`. */
const customerWithPrice = (name: string, unitAmount: number, taxRateIds: string[] = []) =>
  oneOffBuyer(service, operator, { name, unitAmount, taxRateIds, productId });

const coupon = (body: Record<string, unknown>) => created('/api/v1/coupons', { name: 'Promo', ...body });
const redeem = (customerId: string, body: Record<string, unknown>) =>
  call('POST', `/api/v1/customers/${customerId}/discounts`, body);

describe('a coupon discounts invoices as its own line, before tax, never below zero', () => {
  it('50 % off 100.00 with 19 % VAT on top: 50.00 off, VAT 9.50 on the 50.00 left, 59.50 due', async () => {
    const vat = await created('/api/v1/tax-rates', {
      display_name: 'VAT',
      percentage: '19',
      inclusive: false,
    });
    const half = await coupon({ name: 'Half', percent_off: '50', duration: 'forever' });
    const { customer, invoice } = await customerWithPrice('Half Off', 10_000, [vat.id]);
    expect((await redeem(customer.id, { coupon_id: half.id })).status).toBe(201);
    const billed = await invoice();
    expect(billed.lines.map((line: { kind: string; amount: number }) => [line.kind, line.amount])).toEqual([
      ['one_time', 10_000],
      ['discount', -5_000],
    ]);
    expect(billed.lines[1]).toMatchObject({ coupon_id: half.id, description: 'Half (50 % off)', taxes: [] });
    expect(billed.lines[0].taxes[0]).toMatchObject({ taxable_amount: 5_000, amount: 950 });
    expect(billed).toMatchObject({ subtotal: 5_000, tax: 950, total: 5_950, amount_due: 5_950 });
  });

  it('an amount off larger than the invoice takes it to zero, not below: paid at once, nothing owed back', async () => {
    const big = await coupon({ name: 'Big', amount_off: 5_000, currency: 'USD', duration: 'once' });
    const { customer, invoice } = await customerWithPrice('Big Off', 2_000);
    await redeem(customer.id, { coupon_id: big.id });
    const billed = await invoice();
    expect(billed).toMatchObject({
      subtotal: 0,
      total: 0,
      amount_due: 0,
      status: 'paid',
      credited_to_balance: 0,
    });
    expect(billed.lines[1]).toMatchObject({ kind: 'discount', amount: -2_000 });
    expect((await call('GET', `/api/v1/customers/${customer.id}`)).body.credit_balance).toEqual({});
  });

  it('repeating for 2 periods: the first two invoices are discounted (a one-off invoice is its own period), the third is not', async () => {
    const twice = await coupon({
      name: 'Twice',
      percent_off: '12.5',
      duration: 'repeating',
      duration_in_periods: 2,
    });
    const { customer, invoice } = await customerWithPrice('Twice Off', 999);
    await redeem(customer.id, { coupon_id: twice.id });
    // 12.5 % of 9.99 is 1.24875 → 1.25.
    const totals = [(await invoice()).total, (await invoice()).total, (await invoice()).total];
    expect(totals).toEqual([874, 874, 999]);
    const [discount] = (await call('GET', `/api/v1/customers/${customer.id}/discounts`)).body.data;
    expect(discount.discounted_periods).toHaveLength(2);
  });

  it('a subscription’s coupon once: its first period is discounted, the next is not', async () => {
    const once = await coupon({ name: 'Welcome', percent_off: '20', duration: 'once' });
    const { customer, subscription } = await subscribeOverHttp(service, operator, 'Coupon Loop');
    const redeemed = await redeem(customer.id, { coupon_id: once.id, subscription_id: subscription.id });
    expect(redeemed.body).toMatchObject({ subscription_id: subscription.id, discounted_periods: [] });
    await created('/api/v1/usage-records', {
      subscription_id: subscription.id,
      metric: 'calls',
      quantity: 501,
      idempotency_key: 'coupon-1',
    });
    // The preview shows it: 20 % of 2000 + 251 = 450.2 → 450.
    const upcoming = await call('GET', `/api/v1/subscriptions/${subscription.id}/upcoming-invoice`);
    expect(upcoming.body).toMatchObject({ subtotal: 1_801, total: 1_801 });
    let end = new Date(subscription.current_period_end);
    const finalizeNext = async () => {
      await closePeriodsAt(service, new Date(end.getTime() + 1000));
      const drafts = await call('GET', `/api/v1/invoices?customer_id=${customer.id}&status=draft`);
      const open = await call('POST', `/api/v1/invoices/${drafts.body.data[0].id}/finalize`);
      end = new Date(open.body.next_period_end);
      return open.body;
    };
    const first = await finalizeNext();
    expect(first).toMatchObject({ subtotal: 1_801, total: 1_801, amount_due: 1_801 });
    const second = await finalizeNext();
    expect(second).toMatchObject({ subtotal: 2_000, total: 2_000 });
    expect(second.lines.some((line: { kind: string }) => line.kind === 'discount')).toBe(false);
  });

  it('an ended discount discounts no later invoice; the invoices it discounted keep theirs', async () => {
    const forever = await coupon({ name: 'Forever', percent_off: '10', duration: 'forever' });
    const { customer, invoice } = await customerWithPrice('Ended', 1_000);
    const discount = (await redeem(customer.id, { coupon_id: forever.id })).body;
    const before = await invoice();
    expect(before.total).toBe(900);
    const ended = await call('DELETE', `/api/v1/customers/${customer.id}/discounts/${discount.id}`);
    expect(ended.status).toBe(200);
    expect(ended.body.ended_at).not.toBeNull();
    expect((await invoice()).total).toBe(1_000);
    expect((await call('GET', `/api/v1/invoices/${before.id}`)).body.total).toBe(900);
  });
});

describe('who may redeem a coupon, and when, is checked in the write', () => {
  it('max_redemptions 1: the second customer is refused (409) and the coupon counts 1', async () => {
    const one = await coupon({ name: 'Only one', percent_off: '5', duration: 'once', max_redemptions: 1 });
    const a = await customerWithPrice('First', 100);
    const b = await customerWithPrice('Second', 100);
    const [first, second] = await Promise.all([
      redeem(a.customer.id, { coupon_id: one.id }),
      redeem(b.customer.id, { coupon_id: one.id }),
    ]);
    expect([first.status, second.status].sort()).toEqual([201, 409]);
    expect((await call('GET', `/api/v1/coupons/${one.id}`)).body.times_redeemed).toBe(1);
  });

  it('refuses, naming the field: a past redeem_by, both kinds off, a percent with a currency, a number percent', async () => {
    const base = { name: 'Bad', duration: 'once' };
    const cases: [Record<string, unknown>, string][] = [
      [{ ...base, percent_off: '10', redeem_by: '2020-01-01T00:00:00Z' }, 'redeem_by'],
      [{ ...base, percent_off: '10', amount_off: 100, currency: 'USD' }, 'percent_off'],
      [{ ...base, percent_off: '10', currency: 'USD' }, 'currency'],
      [{ ...base, percent_off: 10 }, 'percent_off'],
      [{ ...base, amount_off: 100 }, 'currency'],
      [{ ...base, percent_off: '10', duration: 'repeating' }, 'duration_in_periods'],
    ];
    for (const [body, field] of cases) {
      const response = await call('POST', '/api/v1/coupons', body);
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(
        response.body.errors.map((e: { field: string }) => e.field),
        JSON.stringify(body),
      ).toContain(field);
    }
  });

  it('refuses a coupon the customer already holds, and a subscription of another customer', async () => {
    const promo = await coupon({ name: 'Held', percent_off: '5', duration: 'forever' });
    const { customer } = await customerWithPrice('Holder', 100);
    const other = await subscribeOverHttp(service, operator, 'Other Holder');
    expect((await redeem(customer.id, { coupon_id: promo.id })).status).toBe(201);
    expect((await redeem(customer.id, { coupon_id: promo.id })).status).toBe(409);
    // Two at once: the guard in the write lets one through, whatever both read first.
    const racing = await coupon({ name: 'Raced', percent_off: '5', duration: 'forever' });
    const both = await Promise.all([1, 2].map(() => redeem(customer.id, { coupon_id: racing.id })));
    expect(both.map((r) => r.status).sort()).toEqual([201, 409]);
    expect((await call('GET', `/api/v1/coupons/${racing.id}`)).body.times_redeemed).toBe(1);
    const foreign = await redeem(customer.id, {
      coupon_id: promo.id,
      subscription_id: other.subscription.id,
    });
    expect(foreign.status).toBe(400);
    expect(foreign.body.errors[0].field).toBe('subscription_id');
  });
});
