import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCOPES } from '../../shared/http/routes.ts';
import type { FakeStripe } from '../support/fake-stripe.ts';
import { closePeriodsAt, subscribeOverHttp } from '../support/http-fixtures.ts';
import { startWithFakeStripe, type TestService } from '../support/local-service.ts';

/**
 * Payment methods through the running local service with Stripe configured (the real `stripe`
 * client against the fake Stripe): attach a second card, pay with it, and what stops a charge.
 */
let service: TestService;
let stripe: FakeStripe;
let operator: string;
let WEBHOOK_SECRET: string;
let stop: () => Promise<void>;

beforeAll(async () => {
  ({
    service,
    stripe,
    operator,
    webhookSecret: WEBHOOK_SECRET,
    stop,
  } = await startWithFakeStripe('payment_methods_e2e'));
});
afterAll(async () => stop?.());

const call = (method: string, path: string, body?: unknown, token = operator, headers = {}) =>
  service.call(method, path, { token, headers, ...(body === undefined ? {} : { body }) });
const methods = (customerId: string) => `/api/v1/customers/${customerId}/payment-methods`;

/** A customer with an open invoice of 2000, its first month's fee (its first period closed and finalized). */
async function openInvoice(name: string) {
  const subscribed = await subscribeOverHttp(service, operator, name);
  await closePeriodsAt(
    service,
    new Date(new Date(subscribed.subscription.current_period_end).getTime() + 1000),
  );
  const list = await call('GET', `/api/v1/invoices?customer_id=${subscribed.customer.id}`);
  const finalized = await call('POST', `/api/v1/invoices/${list.body.data[0].id}/finalize`);
  expect(finalized.body).toMatchObject({ status: 'open', amount_due: 2000 });
  return { customer: subscribed.customer, invoice: finalized.body };
}

/** The payment methods sent to Stripe to charge this invoice, in order. */
const chargedWith = (invoiceId: string) =>
  stripe.requests
    .filter(
      (r) =>
        r.path === '/v1/payment_intents' &&
        (r.params.metadata as Record<string, string> | undefined)?.billing_invoice_id === invoiceId,
    )
    .map((r) => r.params.payment_method);

describe('payment methods over HTTP, with Stripe', () => {
  it('attach a second card, list both, pay with the second: Stripe charges that card', async () => {
    const { customer, invoice } = await openInvoice('PM Second');
    const first = await call('POST', methods(customer.id), {
      payment_method: 'pm_card_visa',
      set_default: true,
    });
    expect(first.status).toBe(201);
    const second = await call('POST', methods(customer.id), { payment_method: 'pm_card_mastercard' });
    expect(second.status).toBe(201);
    expect(second.body).toMatchObject({
      customer_id: customer.id,
      source: 'stripe',
      type: 'card',
      card: { brand: 'mastercard', last4: '4444', exp_month: 12, exp_year: 2034 },
      status: 'attached',
      default: false,
      expired: false,
    });
    const list = await call('GET', methods(customer.id));
    expect(list.body.data.map((m: { id: string; default: boolean }) => [m.id, m.default])).toEqual([
      [first.body.id, true],
      [second.body.id, false],
    ]);
    const paid = await call('POST', `/api/v1/invoices/${invoice.id}/pay`, {
      payment_method_id: second.body.id,
    });
    expect(paid.status).toBe(200);
    expect(paid.body).toMatchObject({ status: 'paid', amount_paid: 2000 });
    expect(chargedWith(invoice.id)).toEqual([second.body.id]);
  });

  it('without payment_method_id the customer default is charged; set default and detach change it', async () => {
    const { customer, invoice } = await openInvoice('PM Default');
    const visa = (await call('POST', methods(customer.id), { payment_method: 'pm_card_visa' })).body;
    const amex = (
      await call('POST', methods(customer.id), { payment_method: 'pm_card_amex', set_default: true })
    ).body;
    const chosen = await call('POST', `${methods(customer.id)}/${visa.id}/default`);
    expect(chosen.body).toMatchObject({ id: visa.id, default: true });
    expect(stripe.customers.get(customer.stripe_customer_id)?.invoice_settings.default_payment_method).toBe(
      visa.id,
    );
    expect((await call('GET', `${methods(customer.id)}/${amex.id}`)).body.default).toBe(false);

    const detached = await call('DELETE', `${methods(customer.id)}/${amex.id}`);
    expect(detached.body).toMatchObject({ status: 'detached', default: false });
    const paid = await call('POST', `/api/v1/invoices/${invoice.id}/pay`, {});
    expect(paid.body.status).toBe('paid');
    expect(chargedWith(invoice.id)).toEqual([visa.id]);
  });

  it('paying with a method that is not one of the customer’s attached ones is a 422 naming payment_method_id', async () => {
    const { customer, invoice } = await openInvoice('PM Unknown');
    const other = await openInvoice('PM Other');
    const theirs = (await call('POST', methods(other.customer.id), { payment_method: 'pm_card_visa' })).body;
    const mine = (await call('POST', methods(customer.id), { payment_method: 'pm_card_visa' })).body;
    await call('DELETE', `${methods(customer.id)}/${mine.id}`);
    for (const id of ['pm_nope', theirs.id, mine.id]) {
      const refused = await call('POST', `/api/v1/invoices/${invoice.id}/pay`, { payment_method_id: id });
      expect(refused.status, id).toBe(422);
      expect(refused.body.errors).toEqual([
        { field: 'payment_method_id', message: expect.stringContaining(id) },
      ]);
    }
    expect(chargedWith(invoice.id)).toEqual([]);
    expect((await call('GET', `/api/v1/invoices/${invoice.id}`)).body).toMatchObject({
      status: 'open',
      pending_payment: null,
    });
  });

  it('an expired card is shown expired, and paying with it says which card and what to do', async () => {
    const { customer, invoice } = await openInvoice('PM Expired');
    const pm = stripe.createPaymentMethod({ last4: '0069', exp_month: 3, exp_year: 2024 });
    const attached = await call('POST', methods(customer.id), { payment_method: pm });
    expect(attached.body).toMatchObject({ id: pm, expired: true });
    // Made Stripe's default behind our back (no webhook): pay still sees our copy is expired.
    stripe.setPaymentMethod(customer.stripe_customer_id, pm);
    const named = await call('POST', `/api/v1/invoices/${invoice.id}/pay`, { payment_method_id: pm });
    expect(named.status).toBe(422);
    expect(named.body.detail).toContain('visa •••• 0069 (expires 03/2024) has expired');
    expect(named.body.detail).toContain('attach a new card and set it as default');
    // Its expired default refused too, once it is the stored default (by Stripe's webhook).
    const update = {
      id: `evt_pm_default_${Date.now()}`,
      object: 'event',
      type: 'customer.updated',
      created: Math.floor(Date.now() / 1000),
      livemode: false,
      data: {
        object: {
          id: customer.stripe_customer_id,
          object: 'customer',
          metadata: { billing_customer_id: customer.id },
          invoice_settings: { default_payment_method: pm },
        },
      },
    };
    const payload = JSON.stringify(update);
    const delivered = await service.call('POST', '/webhooks/stripe', {
      rawBody: payload,
      headers: {
        'content-type': 'application/json',
        'stripe-signature': Stripe.webhooks.generateTestHeaderString({ payload, secret: WEBHOOK_SECRET }),
      },
    });
    expect(delivered.body.outcome).toBe('processed');
    expect((await call('GET', `${methods(customer.id)}/${pm}`)).body).toMatchObject({
      default: true,
      expired: true,
    });
    const byDefault = await call('POST', `/api/v1/invoices/${invoice.id}/pay`, {});
    expect(byDefault.status).toBe(422);
    expect(byDefault.body.errors[0]).toMatchObject({ field: 'payment_method_id' });
    expect(byDefault.body.detail).toContain(
      `default card visa •••• 0069 (expires 03/2024) of customer ${customer.id}`,
    );
    expect(chargedWith(invoice.id)).toEqual([]);
  });

  it('a retry of an attempt Stripe never answered keeps its pinned card; naming another is a 409', async () => {
    const { customer, invoice } = await openInvoice('PM Pinned');
    const visa = (await call('POST', methods(customer.id), { payment_method: 'pm_card_visa' })).body;
    const master = (await call('POST', methods(customer.id), { payment_method: 'pm_card_mastercard' })).body;
    stripe.nextPaymentOutcomes(customer.stripe_customer_id, ['server_error', 'server_error', 'server_error']);
    const unavailable = await call('POST', `/api/v1/invoices/${invoice.id}/pay`, {
      payment_method_id: visa.id,
    });
    expect(unavailable.status).toBe(503);
    const other = await call('POST', `/api/v1/invoices/${invoice.id}/pay`, { payment_method_id: master.id });
    expect(other.status).toBe(409);
    expect(other.body.detail).toContain(visa.id);
    const paid = await call('POST', `/api/v1/invoices/${invoice.id}/pay`, {});
    expect(paid.body.status).toBe('paid');
    expect(new Set(chargedWith(invoice.id))).toEqual(new Set([visa.id]));
  });

  it('a card number is refused by name and nothing is stored; a retried attach replays its answer', async () => {
    const { customer } = await openInvoice('PM Safe');
    const before = (await service.billingItems()).length;
    const pan = await call('POST', methods(customer.id), {
      card: { brand: 'visa', last4: '4242', exp_month: 1, exp_year: 2030, number: '4242424242424242' },
    });
    expect(pan.status).toBe(400);
    expect(pan.body.errors.map((e: { field: string }) => e.field)).toEqual(['card.number']);
    expect(JSON.stringify(await service.billingItems())).not.toContain('4242424242424242');
    expect((await service.billingItems()).length).toBe(before);

    const headers = { 'idempotency-key': `pm-${customer.id}` };
    const once = await call(
      'POST',
      methods(customer.id),
      { payment_method: 'pm_card_visa' },
      operator,
      headers,
    );
    const again = await call(
      'POST',
      methods(customer.id),
      { payment_method: 'pm_card_visa' },
      operator,
      headers,
    );
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body).toEqual(once.body);
    expect((await call('GET', methods(customer.id))).body.data).toHaveLength(1);
  });

  it("a tenant manages its own customer's methods; another tenant's are 404", async () => {
    const { customer } = await openInvoice('PM Tenant');
    const other = await openInvoice('PM Tenant Other');
    const scopes = [SCOPES.customersRead, SCOPES.paymentMethodsWrite];
    const tenant = await service.token(scopes, { tenantId: customer.id });
    const stranger = await service.token(scopes, { tenantId: other.customer.id });
    const own = await call('POST', methods(customer.id), { payment_method: 'pm_card_visa' }, tenant);
    expect(own.status).toBe(201);
    expect(
      (await call('POST', `${methods(customer.id)}/${own.body.id}/default`, undefined, tenant)).status,
    ).toBe(200);
    for (const [method, path] of [
      ['GET', methods(customer.id)],
      ['GET', `${methods(customer.id)}/${own.body.id}`],
      ['POST', `${methods(customer.id)}/${own.body.id}/default`],
      ['DELETE', `${methods(customer.id)}/${own.body.id}`],
      ['GET', `${methods(other.customer.id)}/${own.body.id}`],
    ] as const) {
      expect((await call(method, path, undefined, stranger)).status, `${method} ${path}`).toBe(404);
    }
    expect(
      (await call('GET', `${methods(customer.id)}/${own.body.id}`, undefined, tenant)).body,
    ).toMatchObject({
      status: 'attached',
      default: true,
    });
  });
});
