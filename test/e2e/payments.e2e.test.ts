import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeStripe } from '../support/fake-stripe.ts';
import { budgetRowOf, closePeriodsAt, type Subscribed, subscribeOverHttp } from '../support/http-fixtures.ts';
import { startWithFakeStripe, type TestService } from '../support/local-service.ts';

/**
 * The money loop with Stripe configured: the real `stripe` client inside the service talks to a
 * local Stripe-compatible server, and webhooks are signed with the library's own test helper.
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
  } = await startWithFakeStripe('payments_e2e'));
});
afterAll(async () => stop?.());

const post = (path: string, body?: unknown) =>
  service.call('POST', path, { token: operator, ...(body === undefined ? {} : { body }) });
const getInvoice = async (id: string) =>
  (await service.call('GET', `/api/v1/invoices/${id}`, { token: operator })).body;
const getSubscription = async (id: string) =>
  (await service.call('GET', `/api/v1/subscriptions/${id}`, { token: operator })).body;

/** Subscribed, with some usage, its first period closed and the invoice finalized (open). */
// biome-ignore lint/suspicious/noExplicitAny: tests assert on response bodies field by field
type Body = any;

async function openInvoice(name: string): Promise<Subscribed & { invoice: Body }> {
  const subscribed = await subscribeOverHttp(service, operator, name);
  const usage = await post('/api/v1/usage-records', {
    subscription_id: subscribed.subscription.id,
    idempotency_key: `${name}-u1`,
    metric: 'calls',
    quantity: 1000,
  });
  expect(usage.status).toBe(201);
  await closePeriodsAt(
    service,
    new Date(new Date(subscribed.subscription.current_period_end).getTime() + 1000),
  );
  const list = await service.call('GET', `/api/v1/invoices?customer_id=${subscribed.customer.id}`, {
    token: operator,
  });
  const finalized = await post(`/api/v1/invoices/${list.body.data[0].id}/finalize`);
  expect(finalized.body).toMatchObject({ status: 'open', amount_due: 2000 + 500 });
  return { ...subscribed, invoice: finalized.body };
}

function signed(event: object, options: { timestamp?: number; secret?: string } = {}) {
  const payload = JSON.stringify(event);
  const signature = Stripe.webhooks.generateTestHeaderString({
    payload,
    secret: options.secret ?? WEBHOOK_SECRET,
    ...(options.timestamp ? { timestamp: options.timestamp } : {}),
  });
  return { rawBody: payload, headers: { 'stripe-signature': signature, 'content-type': 'application/json' } };
}

let eventSequence = 0;
function paymentIntentEvent(
  type: 'payment_intent.succeeded' | 'payment_intent.payment_failed',
  intent: { id: string; invoiceId: string; amount: number; attempt?: number; currency?: string },
) {
  eventSequence++;
  return {
    id: `evt_payments_${eventSequence}_${Date.now()}`,
    object: 'event',
    type,
    created: Math.floor(Date.now() / 1000),
    livemode: false,
    data: {
      object: {
        id: intent.id,
        object: 'payment_intent',
        amount: intent.amount,
        amount_received: type === 'payment_intent.succeeded' ? intent.amount : 0,
        currency: intent.currency ?? 'usd',
        status: type === 'payment_intent.succeeded' ? 'succeeded' : 'requires_payment_method',
        metadata: { billing_invoice_id: intent.invoiceId, billing_attempt: String(intent.attempt ?? 1) },
        last_payment_error:
          type === 'payment_intent.payment_failed'
            ? { type: 'card_error', code: 'card_declined', decline_code: 'insufficient_funds' }
            : null,
      },
    },
  };
}

/** The idempotency keys of every PaymentIntent creation sent to Stripe for this invoice, in order. */
const paymentIntentKeys = (invoiceId: string) =>
  stripe.requests
    .filter(
      (r) =>
        r.path === '/v1/payment_intents' &&
        (r.params.metadata as Record<string, string> | undefined)?.billing_invoice_id === invoiceId,
    )
    .map((r) => r.idempotencyKey);

const deliver = (delivery: ReturnType<typeof signed>) => service.call('POST', '/webhooks/stripe', delivery);

describe('customers are mirrored to Stripe', () => {
  it('creates the Stripe customer with our id as metadata and stores its id', async () => {
    const created = await post('/api/v1/customers', { name: 'Mirror Co', email: 'mirror@example.com' });
    expect(created.status).toBe(201);
    const stripeId = created.body.stripe_customer_id as string;
    expect(stripeId).toMatch(/^cus_/);
    expect(stripe.customers.get(stripeId)).toMatchObject({
      email: 'mirror@example.com',
      metadata: { billing_customer_id: created.body.id },
    });
    const request = stripe.requests.find(
      (r) => r.path === '/v1/customers' && r.method === 'POST' && r.params.email === 'mirror@example.com',
    );
    expect(request?.idempotencyKey).toBe(`customer-create:${created.body.id}`);
  });
});

describe('collecting an open invoice through Stripe', () => {
  it('refuses without a payment method, records a decline, then charges once and rolls the budget', async () => {
    const { customer, subscription, invoice } = await openInvoice('Collect');
    const stripeCustomer = customer.stripe_customer_id as string;

    const noMethod = await post(`/api/v1/invoices/${invoice.id}/pay`, {});
    expect(noMethod.status).toBe(422);
    expect(noMethod.body.detail).toContain('no default payment method');

    stripe.setPaymentMethod(stripeCustomer, 'pm_card_visa');
    stripe.nextPaymentOutcomes(stripeCustomer, ['card_declined']);
    const declined = await post(`/api/v1/invoices/${invoice.id}/pay`, {});
    expect(declined.status).toBe(402);
    expect(declined.body.detail).toContain('generic_decline');
    const afterDecline = await getInvoice(invoice.id);
    expect(afterDecline).toMatchObject({
      status: 'open',
      payment_attempts: 1,
      last_payment_error: { attempt: 1, code: 'generic_decline' },
    });

    const paid = await post(`/api/v1/invoices/${invoice.id}/pay`, {});
    expect(paid.status).toBe(200);
    expect(paid.body).toMatchObject({ status: 'paid', amount_paid: 2500, last_payment_error: null });
    const intents = [...stripe.paymentIntents.values()].filter(
      (i) => i.metadata.billing_invoice_id === invoice.id,
    );
    expect(intents.map((i) => [i.status, i.amount, i.currency, i.metadata.billing_attempt])).toEqual([
      ['requires_payment_method', 2500, 'usd', '1'],
      ['succeeded', 2500, 'usd', '2'],
    ]);
    expect(paid.body.stripe_payment_intent_id).toBe(intents[1]!.id);
    const keys = paymentIntentKeys(invoice.id);
    expect(keys).toEqual([`invoice-pay:${invoice.id}:1`, `invoice-pay:${invoice.id}:2`]);

    // Paying again is refused: a paid invoice is final, and Stripe is not called.
    const before = stripe.requests.length;
    expect((await post(`/api/v1/invoices/${invoice.id}/pay`, {})).status).toBe(409);
    expect(stripe.requests.length).toBe(before);

    expect(await budgetRowOf(service, subscription.id)).toMatchObject({
      period_start: invoice.next_period_start,
      period_end: invoice.next_period_end,
      current_spend: 0,
      last_paid_invoice_id: invoice.id,
    });

    // Stripe's own webhooks for both attempts arrive afterwards, in the wrong order: nothing changes.
    const settled = await getInvoice(invoice.id);
    const success = await deliver(
      signed(
        paymentIntentEvent('payment_intent.succeeded', {
          id: intents[1]!.id,
          invoiceId: invoice.id,
          amount: 2500,
          attempt: 2,
        }),
      ),
    );
    expect(success.body).toMatchObject({ received: true, outcome: 'processed' });
    const lateDecline = await deliver(
      signed(
        paymentIntentEvent('payment_intent.payment_failed', {
          id: intents[0]!.id,
          invoiceId: invoice.id,
          amount: 2500,
          attempt: 1,
        }),
      ),
    );
    expect(lateDecline.status).toBe(200);
    expect(await getInvoice(invoice.id)).toEqual(settled);
    const payments = (await service.billingItems()).filter(
      (i) => i.item_type === 'payment' && i.invoice_id === invoice.id,
    );
    expect(payments).toHaveLength(1);
  });

  it('retries after Stripe failed to answer with the same attempt, so the customer is charged once', async () => {
    const { customer, invoice } = await openInvoice('Retry');
    stripe.setPaymentMethod(customer.stripe_customer_id, 'pm_card_visa');
    // Three 500s: the client's two retries are used up and the call answers 503.
    stripe.nextPaymentOutcomes(customer.stripe_customer_id, ['server_error', 'server_error', 'server_error']);
    const unavailable = await post(`/api/v1/invoices/${invoice.id}/pay`, {});
    expect(unavailable.status).toBe(503);
    expect(await getInvoice(invoice.id)).toMatchObject({
      status: 'open',
      payment_attempts: 0,
      pending_payment: { attempt: 1, payment_method: 'pm_card_visa', status: 'requested' },
    });
    // The customer changes card meanwhile: the retry of attempt 1 still sends the pinned one, so
    // Stripe sees the same request under the same key.
    stripe.setPaymentMethod(customer.stripe_customer_id, 'pm_card_mastercard');
    const paid = await post(`/api/v1/invoices/${invoice.id}/pay`, {});
    expect(paid.body).toMatchObject({ status: 'paid', pending_payment: null });
    const keys = paymentIntentKeys(invoice.id);
    expect(new Set(keys)).toEqual(new Set([`invoice-pay:${invoice.id}:1`]));
    const intents = [...stripe.paymentIntents.values()].filter(
      (i) => i.metadata.billing_invoice_id === invoice.id,
    );
    expect(intents.map((i) => i.payment_method)).toEqual(['pm_card_visa']);
  });

  it('a payment processing at Stripe blocks new attempts until its webhook settles it', async () => {
    const { customer, invoice } = await openInvoice('Processing');
    stripe.setPaymentMethod(customer.stripe_customer_id, 'pm_sepa_debit');
    stripe.nextPaymentOutcomes(customer.stripe_customer_id, ['processing']);
    const processing = await post(`/api/v1/invoices/${invoice.id}/pay`, {});
    expect(processing.status).toBe(200);
    expect(processing.body).toMatchObject({
      status: 'open',
      pending_payment: { status: 'processing', attempt: 1 },
    });
    const intentId = processing.body.pending_payment.payment_intent_id as string;
    expect(intentId).toMatch(/^pi_/);

    const again = await post(`/api/v1/invoices/${invoice.id}/pay`, {});
    expect(again.status).toBe(409);
    expect(again.body.detail).toContain(intentId);
    expect(paymentIntentKeys(invoice.id)).toHaveLength(1);

    const settled = await deliver(
      signed(
        paymentIntentEvent('payment_intent.succeeded', { id: intentId, invoiceId: invoice.id, amount: 2500 }),
      ),
    );
    expect(settled.body.outcome).toBe('processed');
    expect(await getInvoice(invoice.id)).toMatchObject({
      status: 'paid',
      stripe_payment_intent_id: intentId,
      pending_payment: null,
    });
  });

  it('a decline on an uncollectible invoice moves the attempt on, so the next pay is a new attempt', async () => {
    const { customer, invoice } = await openInvoice('Writeoff');
    expect((await post(`/api/v1/invoices/${invoice.id}/mark-uncollectible`)).status).toBe(200);
    stripe.setPaymentMethod(customer.stripe_customer_id, 'pm_card_visa');
    stripe.nextPaymentOutcomes(customer.stripe_customer_id, ['card_declined']);
    expect((await post(`/api/v1/invoices/${invoice.id}/pay`, {})).status).toBe(402);
    expect(await getInvoice(invoice.id)).toMatchObject({ status: 'uncollectible', payment_attempts: 1 });
    const paid = await post(`/api/v1/invoices/${invoice.id}/pay`, {});
    expect(paid.body).toMatchObject({ status: 'paid' });
    expect(paymentIntentKeys(invoice.id)).toEqual([
      `invoice-pay:${invoice.id}:1`,
      `invoice-pay:${invoice.id}:2`,
    ]);
  });
});

describe('the Stripe webhook settles invoices', () => {
  it('subscribe → usage → close → invoice → webhook paid → budget period rolled, once', async () => {
    const { subscription, invoice } = await openInvoice('Webhook');
    const event = paymentIntentEvent('payment_intent.succeeded', {
      id: 'pi_webhook_1',
      invoiceId: invoice.id,
      amount: 2500,
    });

    // A forged signature and a stale one change nothing.
    const forged = await deliver(signed(event, { secret: 'whsec_someone_else' }));
    expect(forged.status).toBe(400);
    const stale = await deliver(signed(event, { timestamp: Math.floor(Date.now() / 1000) - 10 * 60 }));
    expect(stale.status).toBe(400);
    expect(await getInvoice(invoice.id)).toMatchObject({ status: 'open', version: invoice.version });

    const first = await deliver(signed(event));
    expect(first).toMatchObject({ status: 200, body: { outcome: 'processed', duplicate: false } });
    const paid = await getInvoice(invoice.id);
    expect(paid).toMatchObject({
      status: 'paid',
      amount_paid: 2500,
      stripe_payment_intent_id: 'pi_webhook_1',
    });

    const replay = await deliver(signed(event));
    expect(replay.body).toMatchObject({ outcome: 'duplicate', duplicate: true });
    expect(await getInvoice(invoice.id)).toEqual(paid);

    expect(await budgetRowOf(service, subscription.id)).toMatchObject({
      period_start: invoice.next_period_start,
      current_spend: 0,
      last_paid_invoice_id: invoice.id,
    });
    const events = (await service.call('GET', '/_local/events')).body.events as {
      detail_type: string;
      detail: { entity_id: string };
    }[];
    expect(
      events.filter((e) => e.detail_type === 'invoice.paid' && e.detail.entity_id === invoice.id),
    ).toHaveLength(1);
  });

  it('records a decline from the webhook and keeps money that cannot settle an invoice as unapplied', async () => {
    const { invoice } = await openInvoice('Unapplied');
    const decline = await deliver(
      signed(
        paymentIntentEvent('payment_intent.payment_failed', {
          id: 'pi_declined_1',
          invoiceId: invoice.id,
          amount: 2500,
          attempt: 1,
        }),
      ),
    );
    expect(decline.body.outcome).toBe('processed');
    expect(await getInvoice(invoice.id)).toMatchObject({
      status: 'open',
      payment_attempts: 1,
      last_payment_error: { payment_intent_id: 'pi_declined_1', code: 'insufficient_funds' },
    });

    expect((await post(`/api/v1/invoices/${invoice.id}/pay`, { paid_out_of_band: true })).body.status).toBe(
      'paid',
    );
    // Stripe collected too (say, a retry the customer started in Stripe): the money is kept as unapplied.
    const late = await deliver(
      signed(
        paymentIntentEvent('payment_intent.succeeded', {
          id: 'pi_late_1',
          invoiceId: invoice.id,
          amount: 2500,
        }),
      ),
    );
    expect(late.body.outcome).toBe('processed');
    const payments = (await service.billingItems()).filter(
      (i) => i.item_type === 'payment' && i.invoice_id === invoice.id,
    );
    expect(payments.map((p) => [p.id, p.applied, p.amount])).toEqual(
      expect.arrayContaining([
        [`oob_${invoice.id}`, true, 2500],
        ['pi_late_1', false, 2500],
      ]),
    );
    expect(payments).toHaveLength(2);
    // Paid outside Stripe: no PaymentIntent paid it.
    expect((await getInvoice(invoice.id)).stripe_payment_intent_id).toBeNull();

    // The declined PaymentIntent succeeds after all (the customer completed authentication):
    // the money is kept as unapplied too, never taken for the out-of-band payment.
    await deliver(
      signed(
        paymentIntentEvent('payment_intent.succeeded', {
          id: 'pi_declined_1',
          invoiceId: invoice.id,
          amount: 2500,
        }),
      ),
    );
    const all = (await service.billingItems()).filter(
      (i) => i.item_type === 'payment' && i.invoice_id === invoice.id,
    );
    expect(all.map((p) => [p.id, p.applied])).toEqual(
      expect.arrayContaining([
        ['pi_declined_1', false],
        ['pi_late_1', false],
      ]),
    );
    expect(all).toHaveLength(3);
  });

  it('ignores events that are not about our invoices', async () => {
    const foreign = await deliver(
      signed(
        paymentIntentEvent('payment_intent.succeeded', {
          id: 'pi_foreign',
          invoiceId: 'in_nope',
          amount: 100,
        }),
      ),
    );
    expect(foreign).toMatchObject({ status: 200, body: { outcome: 'ignored' } });
  });
});

describe('dunning', () => {
  it('moves the subscription to past_due after the due date and back to active when paid', async () => {
    const { subscription, invoice } = await openInvoice('Dunning');
    const beforeDue = new Date(new Date(invoice.due_date).getTime() - 60_000);
    await closePeriodsAt(service, beforeDue);
    expect((await getSubscription(subscription.id)).status).toBe('active');

    const report = await closePeriodsAt(service, new Date(new Date(invoice.due_date).getTime() + 60_000));
    expect(report.past_due).toBeGreaterThanOrEqual(1);
    expect((await getSubscription(subscription.id)).status).toBe('past_due');
    expect(await budgetRowOf(service, subscription.id)).toMatchObject({ status: 'past_due' });

    const paid = await post(`/api/v1/invoices/${invoice.id}/pay`, { paid_out_of_band: true });
    expect(paid.body.status).toBe('paid');
    expect((await getSubscription(subscription.id)).status).toBe('active');
    expect(await budgetRowOf(service, subscription.id)).toMatchObject({ status: 'active' });
  });
});
