import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  callsWith,
  closePeriodsAt,
  createdOverHttp,
  oneOffBuyer,
  subscribeOverHttp,
} from '../support/http-fixtures.ts';
import { startWithOperator, type TestService } from '../support/local-service.ts';

/**
 * Tax rates on invoices, over HTTP against the local service. The expected figures are published
 * worked examples, not this code's formula: Revenu Québec's GST + QST on a $100.00 sale (5.00 and
 * 9.98, total 114.98), 19 % VAT inside a gross 119.00 (19.00, net 100.00), New York City's 8.875 %
 * on a $10.00 item (0.89); the subscription case rounds each line by hand, half away from zero.
 */
let service: TestService;
let operator: string;

beforeAll(async () => {
  ({ service, operator } = await startWithOperator());
});
afterAll(async () => service?.close());

const call = callsWith(
  () => service,
  () => operator,
);

const created = (path: string, body: unknown) => createdOverHttp(service, operator, path, body);

const taxRate = (display_name: string, percentage: string, inclusive: boolean, jurisdiction?: string) =>
  created('/api/v1/tax-rates', {
    display_name,
    percentage,
    inclusive,
    ...(jurisdiction ? { jurisdiction } : {}),
  });

/** A customer with these tax rates and its one-off invoice of one one-time price of `unitAmount`. */
async function oneOffInvoice(name: string, taxRateIds: string[], unitAmount: number) {
  const { customer, invoice } = await oneOffBuyer(service, operator, { name, unitAmount, taxRateIds });
  expect(customer.tax_rate_ids).toEqual(taxRateIds);
  return { customer, invoice: await invoice() };
}

describe('a tax rate is applied to every line of its customer’s invoices when they are finalized', () => {
  it('exclusive GST + QST on $100.00 (Revenu Québec): 5.00 + 9.98, total 114.98, collected in full', async () => {
    const gst = await taxRate('GST', '5', false, 'CA');
    const qst = await taxRate('QST', '9.975', false, 'CA-QC');
    expect(gst).toMatchObject({ percentage: '5', inclusive: false, jurisdiction: 'CA', active: true });
    const { invoice } = await oneOffInvoice('Quebec', [gst.id, qst.id], 10_000);
    expect(invoice).toMatchObject({
      status: 'open',
      subtotal: 10_000,
      tax: 1_498,
      total: 11_498,
      total_excluding_tax: 10_000,
      amount_due: 11_498,
    });
    expect(invoice.lines[0].taxes).toEqual([
      { tax_rate_id: gst.id, percentage: '5', inclusive: false, taxable_amount: 10_000, amount: 500 },
      { tax_rate_id: qst.id, percentage: '9.975', inclusive: false, taxable_amount: 10_000, amount: 998 },
    ]);
    expect(invoice.total_taxes).toEqual([
      expect.objectContaining({
        display_name: 'GST',
        jurisdiction: 'CA',
        amount: 500,
        taxable_amount: 10_000,
      }),
      expect.objectContaining({ display_name: 'QST', jurisdiction: 'CA-QC', amount: 998 }),
    ]);
    expect(invoice.tax_rates.map((rate: { id: string }) => rate.id)).toEqual([gst.id, qst.id]);
    const paid = await call('POST', `/api/v1/invoices/${invoice.id}/pay`, { paid_out_of_band: true });
    expect(paid.status).toBe(200);
    expect(paid.body).toMatchObject({ status: 'paid', amount_paid: 11_498 });
  });

  it('inclusive 19 % VAT inside a gross 119.00: tax 19.00, net 100.00, nothing added', async () => {
    const vat = await taxRate('MwSt.', '19', true, 'DE');
    const { invoice } = await oneOffInvoice('Berlin', [vat.id], 11_900);
    expect(invoice).toMatchObject({
      subtotal: 11_900,
      tax: 1_900,
      total: 11_900,
      total_excluding_tax: 10_000,
      amount_due: 11_900,
    });
    expect(invoice.lines[0].taxes).toEqual([
      { tax_rate_id: vat.id, percentage: '19', inclusive: true, taxable_amount: 10_000, amount: 1_900 },
    ]);
  });

  it('NYC 8.875 % on a $10.00 item: 0.89', async () => {
    const nyc = await taxRate('Sales tax', '8.875', false, 'US-NY');
    const { invoice } = await oneOffInvoice('Brooklyn', [nyc.id], 1_000);
    expect(invoice).toMatchObject({ tax: 89, total: 1_089, amount_due: 1_089 });
  });

  it('a subscription’s period invoice: taxed line by line at finalization, and keeps its rates afterwards', async () => {
    const nyc = await taxRate('Sales tax', '8.875', false, 'US-NY');
    const { customer, subscription } = await subscribeOverHttp(service, operator, 'Taxed Loop');
    const patched = await call('PATCH', `/api/v1/customers/${customer.id}`, { tax_rate_ids: [nyc.id] });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ tax_rate_ids: [nyc.id], version: customer.version + 1 });
    expect(patched.headers.get('etag')).toBe(`"${customer.version + 1}"`);
    await created('/api/v1/usage-records', {
      subscription_id: subscription.id,
      metric: 'calls',
      quantity: 501,
      idempotency_key: 'taxed-1',
    });
    // The preview is taxed as finalizing now would: fee 2000 + usage 251 (501 × 0.5).
    const upcoming = await call('GET', `/api/v1/subscriptions/${subscription.id}/upcoming-invoice`);
    expect(upcoming.status).toBe(200);
    expect(upcoming.body).toMatchObject({ subtotal: 2_251, tax: 200, total: 2_451, amount_due: 2_451 });

    await closePeriodsAt(service, new Date(new Date(subscription.current_period_end).getTime() + 1000));
    const drafts = await call('GET', `/api/v1/invoices?customer_id=${customer.id}`);
    const draft = drafts.body.data[0];
    // A draft is not taxed yet: what it shows is before tax.
    expect(draft).toMatchObject({ status: 'draft', subtotal: 2_251, tax: 0, total: 2_251, total_taxes: [] });

    const open = await call('POST', `/api/v1/invoices/${draft.id}/finalize`);
    expect(open.status).toBe(200);
    // Line by line, half away from zero: 2000 × 8.875 % = 177.5 → 178; 251 × 8.875 % = 22.276… → 22.
    expect(
      open.body.lines.map((line: { amount: number; taxes: { amount: number }[] }) => [
        line.amount,
        line.taxes.map((tax) => tax.amount),
      ]),
    ).toEqual([
      [2_000, [178]],
      [251, [22]],
    ]);
    expect(open.body).toMatchObject({ subtotal: 2_251, tax: 200, total: 2_451, amount_due: 2_451 });

    // The customer's rates change; the finalized invoice keeps what it was taxed at.
    const cleared = await call('PATCH', `/api/v1/customers/${customer.id}`, { tax_rate_ids: [] });
    expect(cleared.body.tax_rate_ids).toEqual([]);
    const again = await call('GET', `/api/v1/invoices/${draft.id}`);
    expect(again.body).toMatchObject({ tax: 200, total: 2_451, amount_due: 2_451 });
    expect(again.body.tax_rates).toEqual([
      { id: nyc.id, display_name: 'Sales tax', jurisdiction: 'US-NY', percentage: '8.875', inclusive: false },
    ]);
    const trail = await call('GET', `/api/v1/audit/customer/${customer.id}`);
    expect(trail.body.data.map((entry: { action: string }) => entry.action)).toContain(
      'customer.tax_rates_changed',
    );
  });
});

describe('a subscription can carry its own rates, in place of its customer’s', () => {
  it('its own rates tax its invoices; null gives it its customer’s again; a tenant cannot set them', async () => {
    const customerRate = await taxRate('Sales tax', '8.875', false, 'US-NY');
    const ownRate = await taxRate('VAT', '20', false, 'GB');
    const { customer, subscription } = await subscribeOverHttp(service, operator, 'Own Rates');
    expect(subscription.default_tax_rate_ids).toBeNull();
    await call('PATCH', `/api/v1/customers/${customer.id}`, { tax_rate_ids: [customerRate.id] });

    const tenant = await service.token(['billing:subscriptions:update'], { tenantId: customer.id });
    const refused = await service.call('PATCH', `/api/v1/subscriptions/${subscription.id}`, {
      token: tenant,
      body: { default_tax_rate_ids: [] },
    });
    expect(refused.status).toBe(403);

    const own = await call('PATCH', `/api/v1/subscriptions/${subscription.id}`, {
      default_tax_rate_ids: [ownRate.id],
    });
    expect(own.status).toBe(200);
    expect(own.body.default_tax_rate_ids).toEqual([ownRate.id]);
    // 20 % of the $20.00 fee, nothing at the customer's 8.875 %.
    const withOwn = await call('GET', `/api/v1/subscriptions/${subscription.id}/upcoming-invoice`);
    expect(withOwn.body).toMatchObject({ subtotal: 2_000, tax: 400, total: 2_400 });
    expect(withOwn.body.total_taxes.map((t: { tax_rate_id: string }) => t.tax_rate_id)).toEqual([ownRate.id]);

    const back = await call('PATCH', `/api/v1/subscriptions/${subscription.id}`, {
      default_tax_rate_ids: null,
    });
    expect(back.body.default_tax_rate_ids).toBeNull();
    await closePeriodsAt(service, new Date(new Date(subscription.current_period_end).getTime() + 1000));
    const [draft] = (await call('GET', `/api/v1/invoices?customer_id=${customer.id}`)).body.data;
    const open = await call('POST', `/api/v1/invoices/${draft.id}/finalize`);
    // The customer's 8.875 % of 2000: 177.5 → 178.
    expect(open.body).toMatchObject({ subtotal: 2_000, tax: 178, total: 2_178, amount_due: 2_178 });

    const unknown = await call('PATCH', `/api/v1/subscriptions/${subscription.id}`, {
      default_tax_rate_ids: ['nope'],
    });
    expect(unknown.status).toBe(400);
    expect(unknown.body.errors).toEqual([{ field: 'default_tax_rate_ids.0', message: 'no tax rate nope' }]);
  });
});

describe('bad tax input is refused, naming the field, and nothing is written', () => {
  it.each([
    ['a JSON number', 19, /not a JSON number/],
    ['above 100', '101', /from "0" to "100"/],
    ['a leading zero', '08', /no leading zero/],
    ['five decimal places', '8.87501', /at most 4 decimal places/],
    ['a negative', '-1', /from "0" to "100"/],
  ])('a percentage that is %s', async (_name, percentage, message) => {
    const before = await call('GET', '/api/v1/tax-rates?limit=100');
    const response = await call('POST', '/api/v1/tax-rates', {
      display_name: 'X',
      percentage,
      inclusive: false,
    });
    expect(response.status).toBe(400);
    expect(response.body.errors).toEqual([{ field: 'percentage', message: expect.stringMatching(message) }]);
    expect((await call('GET', '/api/v1/tax-rates?limit=100')).body.data).toEqual(before.body.data);
  });

  it('a customer given an unknown, repeated or mixed set of rates', async () => {
    const exclusive = await taxRate('GST', '5', false);
    const inclusive = await taxRate('VAT', '20', true);
    const base = { name: 'Refused', email: 'refused@example.com' };
    const unknown = await call('POST', '/api/v1/customers', {
      ...base,
      tax_rate_ids: [exclusive.id, 'nope'],
    });
    expect(unknown.status).toBe(400);
    expect(unknown.body.errors).toEqual([{ field: 'tax_rate_ids.1', message: 'no tax rate nope' }]);
    const repeated = await call('POST', '/api/v1/customers', {
      ...base,
      tax_rate_ids: [exclusive.id, exclusive.id],
    });
    expect(repeated.status).toBe(400);
    expect(repeated.body.errors[0]).toMatchObject({ field: 'tax_rate_ids', message: /twice/ });
    const mixed = await call('POST', '/api/v1/customers', {
      ...base,
      tax_rate_ids: [exclusive.id, inclusive.id],
    });
    expect(mixed.status).toBe(400);
    expect(mixed.body.errors).toEqual([
      { field: 'tax_rate_ids', message: expect.stringMatching(/all inclusive or all exclusive/) },
    ]);
    const customers = await call('GET', '/api/v1/customers?limit=100');
    expect(customers.body.data.some((c: { email: string }) => c.email === base.email)).toBe(false);
  });

  it('a change of rates against a stale version is refused with 409, and the rates stay', async () => {
    const rate = await taxRate('GST', '5', false);
    const customer = await created('/api/v1/customers', { name: 'Stale', email: 'stale@example.com' });
    const first = await call('PATCH', `/api/v1/customers/${customer.id}`, { tax_rate_ids: [rate.id] });
    expect(first.status).toBe(200);
    const stale = await call(
      'PATCH',
      `/api/v1/customers/${customer.id}`,
      { tax_rate_ids: [] },
      { 'if-match': `"${customer.version}"` },
    );
    expect(stale.status).toBe(409);
    expect((await call('GET', `/api/v1/customers/${customer.id}`)).body.tax_rate_ids).toEqual([rate.id]);
    const missing = await call('PATCH', '/api/v1/customers/no-such-customer', { tax_rate_ids: [] });
    expect(missing.status).toBe(404);
  });
});
