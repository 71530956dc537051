import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeStripe } from '../support/fake-stripe.ts';
import { closePeriodsAt } from '../support/http-fixtures.ts';
import { startWithFakeStripe, type TestService } from '../support/local-service.ts';

/**
 * Refunds with Stripe configured: the service's own `stripe` client against the local Stripe
 * stand-in, webhooks signed with the library's helper. Amounts are the invoice's own (25.00 paid),
 * so what comes back is stated from the rule: a refund gives back what a credit note said, once.
 */
let service: TestService;
let stripe: FakeStripe;
let operator: string;
let secret: string;
let stop: () => Promise<void>;

beforeAll(async () => {
  ({ service, stripe, operator, webhookSecret: secret, stop } = await startWithFakeStripe('refunds_e2e'));
});
afterAll(async () => stop?.());

// biome-ignore lint/suspicious/noExplicitAny: tests assert on response bodies field by field
type Body = any;
const post = (path: string, body?: unknown) =>
  service.call('POST', path, { token: operator, ...(body === undefined ? {} : { body }) });
const get = async (path: string): Promise<Body> =>
  (await service.call('GET', path, { token: operator })).body;

/** A customer mirrored to Stripe with a card, and `invoice(unitAmount)`: a one-off invoice of one unit, finalized. */
async function stripeBuyer(name: string) {
  const customer = (
    await post('/api/v1/customers', { name, email: `${name.replace(/\W/g, '').toLowerCase()}@example.com` })
  ).body;
  stripe.setPaymentMethod(customer.stripe_customer_id, 'pm_card_visa');
  const product = (await post('/api/v1/products', { name: `${name} goods` })).body;
  const invoice = async (unitAmount: number): Promise<Body> => {
    const price = (
      await post('/api/v1/prices', {
        product_id: product.id,
        model: 'one_time',
        currency: 'USD',
        unit_amount: unitAmount,
      })
    ).body;
    return (
      await post('/api/v1/invoices', {
        customer_id: customer.id,
        currency: 'USD',
        items: [{ price_id: price.id, quantity: 1 }],
      })
    ).body;
  };
  return { customer, invoice };
}

/** A one-off invoice of 25.00, paid through Stripe. */
async function paidThroughStripe(name: string) {
  const { customer, invoice } = await stripeBuyer(name);
  const open = await invoice(2_500);
  const paid = (await post(`/api/v1/invoices/${open.id}/pay`, {})).body;
  expect(paid).toMatchObject({ status: 'paid', amount_paid: 2_500 });
  expect(paid.stripe_payment_intent_id).toMatch(/^pi_/);
  return { customer, invoice: paid as Body };
}

let sequence = 0;
function deliver(type: string, object: object) {
  const payload = JSON.stringify({
    id: `evt_refunds_${++sequence}_${Date.now()}`,
    object: 'event',
    type,
    created: Math.floor(Date.now() / 1000),
    livemode: false,
    data: { object },
  });
  const signature = Stripe.webhooks.generateTestHeaderString({ payload, secret });
  return service.call('POST', '/webhooks/stripe', {
    rawBody: payload,
    headers: { 'stripe-signature': signature, 'content-type': 'application/json' },
  });
}

const balanceOf = async (customerId: string) => (await get(`/api/v1/customers/${customerId}`)).credit_balance;
const refundsAtStripe = (invoiceId: string) =>
  [...stripe.refunds.values()].filter((refund) => refund.metadata.billing_invoice_id === invoiceId);

describe('a credit note refunds a paid invoice through Stripe', () => {
  it('whole: the 25.00 goes back on the payment that paid it, sent once with its own idempotency key', async () => {
    const { customer, invoice } = await paidThroughStripe('Refund Whole');
    const note = await post(`/api/v1/invoices/${invoice.id}/credit-notes`, {
      reason: 'product_unsatisfactory',
      post_payment_to: 'refund',
    });
    expect(note.status).toBe(201);
    expect(note.body).toMatchObject({
      total: 2_500,
      post_payment_amount: 2_500,
      refund_amount: 2_500,
      credit_amount: 0,
    });
    const [refund, ...more] = (await get(`/api/v1/invoices/${invoice.id}/refunds`)).data;
    expect(more).toEqual([]);
    expect(refund).toMatchObject({
      id: note.body.refund_id,
      credit_note_id: note.body.id,
      payment_id: invoice.stripe_payment_intent_id,
      source: 'credit_balance',
      amount: 2_500,
      method: 'stripe',
      status: 'succeeded',
      sent: true,
    });
    const atStripe = refundsAtStripe(invoice.id);
    expect(atStripe.map((r) => [r.id, r.amount, r.payment_intent])).toEqual([
      [refund.stripe_refund_id, 2_500, invoice.stripe_payment_intent_id],
    ]);
    const keys = stripe.requests.filter((r) => r.path === '/v1/refunds').map((r) => r.idempotencyKey);
    expect(keys).toContain(`refund:${refund.id}`);
    // The customer got the money back, not credit as well.
    expect(await balanceOf(customer.id)).toEqual({});
    // Nothing is left to refund on that payment.
    const again = await post(`/api/v1/invoices/${invoice.id}/refunds`, { amount: 1 });
    expect(again.status).toBe(400);
  });

  it('a refund Stripe reports failed gives its 10.00 back as credit, once, whatever order the webhooks come in', async () => {
    const { customer, invoice } = await paidThroughStripe('Refund Fails');
    stripe.nextRefundOutcomes(['pending']);
    const [fee] = invoice.lines;
    const note = (
      await post(`/api/v1/invoices/${invoice.id}/credit-notes`, {
        reason: 'order_change',
        lines: [{ invoice_line_id: fee.id, amount: 1_000 }],
        post_payment_to: 'refund',
      })
    ).body;
    const [pending] = (await get(`/api/v1/invoices/${invoice.id}/refunds`)).data;
    expect(pending).toMatchObject({ id: note.refund_id, status: 'pending', sent: true, amount: 1_000 });
    const failed = {
      id: pending.stripe_refund_id,
      object: 'refund',
      amount: 1_000,
      status: 'failed',
      failure_reason: 'expired_or_canceled_card',
      metadata: { billing_invoice_id: invoice.id, billing_refund_id: pending.id },
    };
    expect((await deliver('refund.updated', failed)).status).toBe(200);
    expect((await deliver('refund.failed', failed)).status).toBe(200);
    // An older report arriving late changes nothing.
    expect(
      (await deliver('refund.updated', { ...failed, status: 'pending', failure_reason: null })).status,
    ).toBe(200);
    const [after] = (await get(`/api/v1/invoices/${invoice.id}/refunds`)).data;
    expect(after).toMatchObject({ status: 'failed', failure_reason: 'expired_or_canceled_card' });
    expect(await balanceOf(customer.id)).toEqual({ USD: 1_000 });
    // That credit can be refunded again on the same payment, which has its 10.00 back.
    const retried = await post(`/api/v1/invoices/${invoice.id}/refunds`, {});
    expect(retried.status).toBe(201);
    expect(retried.body).toMatchObject({ amount: 1_000, status: 'succeeded', source: 'credit_balance' });
    expect(await balanceOf(customer.id)).toEqual({ USD: 0 });
  });

  it('while Stripe is down the refund waits, pending; the hourly run sends it once', async () => {
    const { invoice } = await paidThroughStripe('Refund Outage');
    stripe.nextRefundOutcomes(Array(10).fill('server_error'));
    const note = (
      await post(`/api/v1/invoices/${invoice.id}/credit-notes`, {
        reason: 'duplicate',
        post_payment_to: 'refund',
      })
    ).body;
    expect(note.refund_amount).toBe(2_500);
    const [waiting] = (await get(`/api/v1/invoices/${invoice.id}/refunds`)).data;
    expect(waiting).toMatchObject({ status: 'pending', sent: false, stripe_refund_id: null });
    expect(refundsAtStripe(invoice.id)).toEqual([]);
    stripe.nextRefundOutcomes([]);
    await closePeriodsAt(service, new Date());
    const [sent] = (await get(`/api/v1/invoices/${invoice.id}/refunds`)).data;
    expect(sent).toMatchObject({ status: 'succeeded', sent: true });
    await closePeriodsAt(service, new Date());
    expect(refundsAtStripe(invoice.id).map((r) => r.amount)).toEqual([2_500]);
  });
  it("a refund Stripe refuses (more than is left on the charge) fails at once and its 25.00 is the customer's credit", async () => {
    const { customer, invoice } = await paidThroughStripe('Refund Refused');
    // 10.00 was refunded in the Dashboard (no metadata of ours): Stripe has 15.00 left on the charge.
    stripe.refunds.set('re_dashboard_refused', {
      id: 're_dashboard_refused',
      object: 'refund',
      created: Math.floor(Date.now() / 1000),
      amount: 1_000,
      currency: 'usd',
      payment_intent: invoice.stripe_payment_intent_id,
      status: 'succeeded',
      failure_reason: null,
      metadata: {},
    });
    const note = await post(`/api/v1/invoices/${invoice.id}/credit-notes`, {
      reason: 'duplicate',
      post_payment_to: 'refund',
    });
    expect(note.status).toBe(201);
    const [refund] = (await get(`/api/v1/invoices/${invoice.id}/refunds`)).data;
    expect(refund).toMatchObject({ status: 'failed', sent: true, stripe_refund_id: null });
    expect(refund.failure_reason).toContain('Stripe refused it');
    expect(await balanceOf(customer.id)).toEqual({ USD: 2_500 });
    // Nothing waits to be sent again.
    await closePeriodsAt(service, new Date());
    expect(refundsAtStripe(invoice.id)).toEqual([]);
  });
});

describe('the refunds route', () => {
  it('refunds an unapplied payment (money that settled nothing), all or part; its own money, not credit', async () => {
    const { customer, invoice } = await paidThroughStripe('Unapplied');
    // A second charge arrives for the paid invoice: kept as unapplied.
    stripe.paymentIntents.set('pi_unapplied_1', {
      ...stripe.paymentIntents.get(invoice.stripe_payment_intent_id)!,
      id: 'pi_unapplied_1',
    });
    // And one in euros, for the same invoice: refunded in its own currency.
    stripe.paymentIntents.set('pi_unapplied_eur', {
      ...stripe.paymentIntents.get(invoice.stripe_payment_intent_id)!,
      id: 'pi_unapplied_eur',
      amount: 2_300,
      currency: 'eur',
    });
    await deliver('payment_intent.succeeded', {
      id: 'pi_unapplied_eur',
      object: 'payment_intent',
      amount: 2_300,
      amount_received: 2_300,
      currency: 'eur',
      status: 'succeeded',
      metadata: { billing_invoice_id: invoice.id, billing_attempt: '8' },
      last_payment_error: null,
    });
    const euros = await post(`/api/v1/invoices/${invoice.id}/refunds`, { payment_id: 'pi_unapplied_eur' });
    expect(euros.body).toMatchObject({ amount: 2_300, currency: 'EUR', source: 'unapplied_payment' });
    const late = await deliver('payment_intent.succeeded', {
      id: 'pi_unapplied_1',
      object: 'payment_intent',
      amount: 2_500,
      amount_received: 2_500,
      currency: 'usd',
      status: 'succeeded',
      metadata: { billing_invoice_id: invoice.id, billing_attempt: '9' },
      last_payment_error: null,
    });
    expect(late.status).toBe(200);
    const tooMuch = await post(`/api/v1/invoices/${invoice.id}/refunds`, {
      payment_id: 'pi_unapplied_1',
      amount: 2_501,
    });
    expect(tooMuch.status).toBe(400);
    expect(tooMuch.body.errors[0]).toMatchObject({ field: 'amount' });
    const part = await post(`/api/v1/invoices/${invoice.id}/refunds`, {
      payment_id: 'pi_unapplied_1',
      amount: 1_000,
    });
    expect(part.body).toMatchObject({ source: 'unapplied_payment', amount: 1_000, status: 'succeeded' });
    const rest = await post(`/api/v1/invoices/${invoice.id}/refunds`, { payment_id: 'pi_unapplied_1' });
    expect(rest.body).toMatchObject({ amount: 1_500, status: 'succeeded' });
    expect(refundsAtStripe(invoice.id).map((r) => [r.payment_intent, r.amount, r.currency])).toEqual([
      ['pi_unapplied_eur', 2_300, 'eur'],
      ['pi_unapplied_1', 1_000, 'usd'],
      ['pi_unapplied_1', 1_500, 'usd'],
    ]);
    expect(await balanceOf(customer.id)).toEqual({});
    // The invoice's own payment gives back only what the customer is owed (nothing yet).
    const owed = await post(`/api/v1/invoices/${invoice.id}/refunds`, {});
    expect(owed.status).toBe(400);
    expect(owed.body.errors[0].message).toContain('credit note');
  });

  it('records a refund made elsewhere (out of band), and says how when the payment was not collected by Stripe', async () => {
    const { customer, invoice } = await stripeBuyer('Elsewhere');
    const open = await invoice(4_000);
    const subscribed = { customer };
    await post(`/api/v1/invoices/${open.id}/pay`, { paid_out_of_band: true });
    await post(`/api/v1/invoices/${open.id}/credit-notes`, { reason: 'duplicate' });
    const owed = open.total as number;
    expect(await balanceOf(subscribed.customer.id)).toEqual({ USD: owed });
    const viaStripe = await post(`/api/v1/invoices/${open.id}/refunds`, {});
    expect(viaStripe.status).toBe(400);
    expect(viaStripe.body.errors[0]).toMatchObject({ field: 'refunded_out_of_band' });
    const recorded = await post(`/api/v1/invoices/${open.id}/refunds`, { refunded_out_of_band: true });
    expect(recorded.body).toMatchObject({
      method: 'out_of_band',
      status: 'succeeded',
      amount: owed,
      sent: true,
    });
    expect(await balanceOf(subscribed.customer.id)).toEqual({ USD: 0 });
    expect(refundsAtStripe(open.id)).toEqual([]);
  });

  it('charge.refunded carries each of its refunds; one of ours is recorded, a Dashboard one is ignored', async () => {
    const { invoice } = await paidThroughStripe('Charge Refunded');
    stripe.nextRefundOutcomes(['pending']);
    await post(`/api/v1/invoices/${invoice.id}/credit-notes`, {
      reason: 'duplicate',
      post_payment_to: 'refund',
    });
    const [pending] = (await get(`/api/v1/invoices/${invoice.id}/refunds`)).data;
    const answered = await deliver('charge.refunded', {
      id: 'ch_1',
      object: 'charge',
      payment_intent: invoice.stripe_payment_intent_id,
      amount_refunded: 2_500,
      refunds: {
        object: 'list',
        data: [
          {
            id: pending.stripe_refund_id,
            object: 'refund',
            amount: 2_500,
            status: 'succeeded',
            metadata: { billing_invoice_id: invoice.id, billing_refund_id: pending.id },
          },
          { id: 're_dashboard', object: 'refund', amount: 1, status: 'succeeded', metadata: {} },
        ],
      },
    });
    expect(answered.status).toBe(200);
    expect((await get(`/api/v1/invoices/${invoice.id}/refunds`)).data[0]).toMatchObject({
      status: 'succeeded',
    });
  });
});
