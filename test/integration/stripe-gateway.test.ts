import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { resetConfigCache } from '../../shared/config.ts';
import { resetStripeCredentials } from '../../shared/payments/stripe-credentials.ts';
import {
  PaymentMethodMissing,
  resetStripeGateway,
  type StripeGateway,
  type StripeGatewayOptions,
  StripeUnavailable,
  stripeGateway,
} from '../../shared/payments/stripe-gateway.ts';
import { type FakeStripe, startFakeStripe } from '../support/fake-stripe.ts';

let fake: FakeStripe;

beforeAll(async () => {
  fake = await startFakeStripe();
});

afterAll(async () => {
  await fake.stop();
});

beforeEach(() => {
  configure({
    STRIPE_SECRET_KEY: 'sk_test_fake',
    STRIPE_API_BASE: fake.url,
    STRIPE_SECRET_ARN: undefined,
    TABLE_NAME: 'unit',
  });
  fake.setLatency(0);
});

function configure(env: Record<string, string | undefined>): void {
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  resetConfigCache();
  resetStripeCredentials();
  resetStripeGateway();
}

async function gateway(options?: StripeGatewayOptions): Promise<StripeGateway> {
  const online = await stripeGateway(options);
  if (!online) throw new Error('expected a configured Stripe gateway');
  return online;
}

/** A Stripe customer mirrored through the gateway, with a card as its invoice default unless told otherwise. */
async function stripeCustomer(paymentMethod: string | null = 'pm_card_visa'): Promise<string> {
  const customerId = `cust-${randomUUID()}`;
  const stripeId = await (await gateway()).ensureCustomer({
    customerId,
    name: 'Acme Compliance',
    email: 'billing@acme.example',
  });
  fake.setPaymentMethod(stripeId, paymentMethod);
  return stripeId;
}

const invoice = (stripeCustomerId: string, attempt = 1) => ({
  invoiceId: `inv-${randomUUID()}`,
  stripeCustomerId,
  amount: 4200,
  currency: 'USD',
  attempt,
});

const sent = (key: string) => fake.requests.filter((request) => request.idempotencyKey === key);
const intentsFor = (invoiceId: string) =>
  [...fake.paymentIntents.values()].filter((intent) => intent.metadata.billing_invoice_id === invoiceId);

async function eventually(check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe('Stripe gateway configuration', () => {
  it('without a secret key the gateway is offline (undefined) and nothing reaches Stripe', async () => {
    configure({ STRIPE_SECRET_KEY: undefined });
    const before = fake.requests.length;
    expect(await stripeGateway()).toBeUndefined();
    expect(fake.requests.length).toBe(before);
  });

  it('the gateway is built once per process', async () => {
    expect(await stripeGateway()).toBe(await stripeGateway());
  });
});

describe('mirroring a customer to Stripe', () => {
  it('sends our id as metadata under a key derived from it, and a second call creates no second customer', async () => {
    const customerId = `cust-${randomUUID()}`;
    const input = { customerId, name: 'Acme Compliance', email: 'billing@acme.example' };
    const first = await (await gateway()).ensureCustomer(input);
    const second = await (await gateway()).ensureCustomer(input);

    expect(first).toMatch(/^cus_/);
    expect(second).toBe(first);
    const mirrored = [...fake.customers.values()].filter(
      (customer) => customer.metadata.billing_customer_id === customerId,
    );
    expect(mirrored).toHaveLength(1);
    const requests = sent(`customer-create:${customerId}`);
    expect(requests).toHaveLength(2);
    expect(requests[0]).toMatchObject({
      method: 'POST',
      path: '/v1/customers',
      params: {
        name: 'Acme Compliance',
        email: 'billing@acme.example',
        metadata: { billing_customer_id: customerId },
      },
      status: 200,
    });
    expect(requests[1]).toMatchObject({ status: 200, replayed: true });
  });

  it('the same customer id with different details is refused by Stripe and not retried as if transient', async () => {
    const customerId = `cust-${randomUUID()}`;
    await (await gateway()).ensureCustomer({ customerId, name: 'Acme', email: 'a@acme.example' });
    const changed = (await gateway()).ensureCustomer({ customerId, name: 'Acme', email: 'b@acme.example' });

    const error = await changed.catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(StripeUnavailable);
    expect((error as StripeUnavailable).details).toMatchObject({
      statusCode: 400,
      stripeType: 'idempotency_error',
      retryable: false,
    });
    expect(sent(`customer-create:${customerId}`)).toHaveLength(2); // a 400 is not retried by the client
  });
});

describe('collecting an invoice through Stripe', () => {
  it("charges the customer's default payment method off-session with amount, currency, metadata and key", async () => {
    const customer = await stripeCustomer('pm_card_visa');
    const input = invoice(customer);
    const result = await (await gateway()).collectInvoice(input);

    expect(result).toEqual({ paymentIntentId: expect.stringMatching(/^pi_/), status: 'succeeded' });
    const key = `invoice-pay:${input.invoiceId}:1`;
    const [create, ...others] = sent(key);
    expect(others).toEqual([]);
    expect(create).toMatchObject({
      method: 'POST',
      path: '/v1/payment_intents',
      params: {
        amount: '4200',
        currency: 'usd',
        customer,
        payment_method: 'pm_card_visa',
        confirm: 'true',
        off_session: 'true',
        metadata: { billing_invoice_id: input.invoiceId, billing_attempt: String(input.attempt) },
      },
    });
    // Without a pinned payment method, the customer's default was looked up first.
    const lookups = fake.requests.filter((r) => r.method === 'GET' && r.path === `/v1/customers/${customer}`);
    expect(lookups).toHaveLength(1);
    expect(fake.paymentIntents.get(result.paymentIntentId)).toMatchObject({
      amount: 4200,
      currency: 'usd',
      customer,
      status: 'succeeded',
    });
  });

  it('the same attempt retried returns the same PaymentIntent and charges once', async () => {
    const customer = await stripeCustomer();
    const input = invoice(customer);
    const first = await (await gateway()).collectInvoice(input);
    const retried = await (await gateway()).collectInvoice(input);

    expect(retried).toEqual(first);
    expect(intentsFor(input.invoiceId)).toHaveLength(1);
    expect(sent(`invoice-pay:${input.invoiceId}:1`).map((request) => request.replayed ?? false)).toEqual([
      false,
      true,
    ]);
  });

  it('a decline returns requires_payment_method without throwing, and only a new attempt charges again', async () => {
    const customer = await stripeCustomer();
    fake.nextPaymentOutcomes(customer, ['card_declined']);
    const input = invoice(customer);
    const declined = await (await gateway()).collectInvoice(input);

    expect(declined).toEqual({
      paymentIntentId: expect.stringMatching(/^pi_/),
      status: 'requires_payment_method',
      failureCode: 'generic_decline',
    });
    expect(await (await gateway()).collectInvoice(input)).toEqual(declined); // replayed, not re-charged
    const second = await (await gateway()).collectInvoice({ ...input, attempt: 2 });

    expect(second).toEqual({ paymentIntentId: expect.stringMatching(/^pi_/), status: 'succeeded' });
    expect(second.paymentIntentId).not.toBe(declined.paymentIntentId);
    expect(intentsFor(input.invoiceId).map((intent) => intent.status)).toEqual([
      'requires_payment_method',
      'succeeded',
    ]);
  });

  it('a customer without a default payment method is refused with PaymentMethodMissing before any charge', async () => {
    const customer = await stripeCustomer(null);
    const input = invoice(customer);

    await expect((await gateway()).collectInvoice(input)).rejects.toBeInstanceOf(PaymentMethodMissing);
    expect(sent(`invoice-pay:${input.invoiceId}:1`)).toEqual([]);
    expect(intentsFor(input.invoiceId)).toEqual([]);
  });

  it("a 500 is retried by the client under the same key, then surfaces as StripeUnavailable with Stripe's request id", async () => {
    const customer = await stripeCustomer();
    fake.nextPaymentOutcomes(customer, ['server_error', 'server_error', 'server_error']);
    const input = invoice(customer);

    const error = await (await gateway()).collectInvoice(input).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(StripeUnavailable);
    expect((error as StripeUnavailable).requestId).toMatch(/^req_/);
    expect((error as StripeUnavailable).details).toMatchObject({ statusCode: 500, retryable: true });
    expect((error as StripeUnavailable).message).toContain((error as StripeUnavailable).requestId);
    expect(sent(`invoice-pay:${input.invoiceId}:1`).map((request) => request.status)).toEqual([
      500, 500, 500,
    ]);
    expect(intentsFor(input.invoiceId)).toEqual([]);
  });

  it("a single 500 is absorbed by the client's retry, with one charge", async () => {
    const customer = await stripeCustomer();
    fake.nextPaymentOutcomes(customer, ['server_error']);
    const input = invoice(customer);

    expect(await (await gateway()).collectInvoice(input)).toMatchObject({ status: 'succeeded' });
    expect(sent(`invoice-pay:${input.invoiceId}:1`).map((request) => request.status)).toEqual([500, 200]);
    expect(intentsFor(input.invoiceId)).toHaveLength(1);
  });

  it('Stripe answering slower than the timeout surfaces as StripeUnavailable', async () => {
    const customer = await stripeCustomer();
    fake.setLatency(1_000);
    const input = invoice(customer);

    const error = await (await gateway({ timeoutMs: 150 }))
      .collectInvoice(input)
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(StripeUnavailable);
    expect((error as StripeUnavailable).details).toMatchObject({
      stripeMessage: expect.stringContaining('timeout'),
      retryable: true,
    });
    const lookups = fake.requests.filter((r) => r.method === 'GET' && r.path === `/v1/customers/${customer}`);
    expect(lookups).toHaveLength(3); // first try + 2 retries
  });

  it('a charge that timed out is not made twice when the same attempt is retried later', async () => {
    const customer = await stripeCustomer();
    fake.nextPaymentOutcomes(customer, [{ slow: 2_500 }]);
    const input = invoice(customer);

    // The client gives up after 150 ms; its retries meet Stripe's "request in progress" 409.
    await expect((await gateway({ timeoutMs: 150 })).collectInvoice(input)).rejects.toBeInstanceOf(
      StripeUnavailable,
    );
    await eventually(() => intentsFor(input.invoiceId).length === 1);
    const later = await (await gateway()).collectInvoice(input);

    expect(later).toEqual({ paymentIntentId: intentsFor(input.invoiceId)[0]?.id, status: 'succeeded' });
    expect(intentsFor(input.invoiceId)).toHaveLength(1);
    const charges = sent(`invoice-pay:${input.invoiceId}:1`);
    expect(charges.map(({ status, replayed }) => [status, replayed ?? false])).toEqual([
      [200, false], // answered after the client had given up
      [409, false],
      [409, false],
      [200, true],
    ]);
  });
});
