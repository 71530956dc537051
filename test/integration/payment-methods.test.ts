import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { config, resetConfigCache } from '../../shared/config.ts';
import type { Caller } from '../../shared/domain/principal.ts';
import { resetStripeCredentials } from '../../shared/payments/stripe-credentials.ts';
import { resetStripeGateway } from '../../shared/payments/stripe-gateway.ts';
import { IdempotencyKeyTaken, idempotencyClaim } from '../../shared/store/idempotency.ts';
import { createCustomer } from '../../shared/use-cases/customers.ts';
import { attachPaymentMethod } from '../../shared/use-cases/payment-methods/attach-payment-method.ts';
import { detachPaymentMethod } from '../../shared/use-cases/payment-methods/detach-payment-method.ts';
import {
  getPaymentMethod,
  listPaymentMethods,
} from '../../shared/use-cases/payment-methods/payment-methods.ts';
import { setDefaultPaymentMethod } from '../../shared/use-cases/payment-methods/set-default-payment-method.ts';
import { receiveStripeEvent } from '../../shared/use-cases/stripe-events.ts';
import { type FakeStripe, startFakeStripe } from '../support/fake-stripe.ts';
import { customerInput, operator, tenantUser } from '../support/fixtures.ts';
import { useTestStore } from '../support/store.ts';

let store: Awaited<ReturnType<typeof useTestStore>>;
let stripe: FakeStripe;
const NOW = new Date('2026-12-01T12:00:00Z');
const caller = (principal = operator(), now = NOW): Caller => ({ principal, requestId: 'req-pm', now });
const table = () => config().tableName;

/** Offline (no Stripe key) or against the fake Stripe; config, credentials and gateway re-read. */
function stripeMode(online: boolean): void {
  if (online) Object.assign(process.env, { STRIPE_SECRET_KEY: 'sk_test_pm', STRIPE_API_BASE: stripe.url });
  else {
    delete process.env.STRIPE_SECRET_KEY;
    delete process.env.STRIPE_API_BASE;
  }
  delete process.env.STRIPE_SECRET_ARN;
  resetConfigCache();
  resetStripeCredentials();
  resetStripeGateway();
}

beforeAll(async () => {
  store = await useTestStore();
  stripe = await startFakeStripe();
});
afterAll(async () => {
  stripeMode(false);
  await stripe?.stop();
});

const visa = { brand: 'visa' as const, last4: '4242', exp_month: 8, exp_year: 2030 };
const newCustomer = async () => (await createCustomer(table(), customerInput(), caller(), undefined)).id;

describe('payment methods offline (no Stripe configured), against DynamoDB Local', () => {
  beforeEach(() => stripeMode(false));

  it('a described card is stored without any number, listed, and the one set as default is the default', async () => {
    const customerId = await newCustomer();
    const first = await attachPaymentMethod(table(), customerId, { type: 'card', card: visa }, caller());
    const second = await attachPaymentMethod(
      table(),
      customerId,
      { card: { brand: 'mastercard', last4: '4444', exp_month: 1, exp_year: 2031 }, set_default: true },
      // A second later: the list is oldest first.
      caller(operator(), new Date(NOW.getTime() + 1000)),
    );
    expect(first).toMatchObject({
      source: 'offline',
      type: 'card',
      card: visa,
      default: false,
      expired: false,
    });
    expect(second.id).toMatch(/^pm_offline_[0-9a-f]{24}$/);
    const page = await listPaymentMethods(table(), customerId, { limit: 10 }, caller());
    expect(page.data.map((m) => [m.id, m.default])).toEqual([
      [first.id, false],
      [second.id, true],
    ]);
    // What is stored of a card is exactly the four described fields.
    const stored = (await store.allItems()).find((item) => item.id === first.id)!;
    expect(stored.card).toEqual(visa);
    const audit = (await store.allItems()).filter(
      (item) =>
        item.PK === `CUSTOMER#${customerId}` && item.item_type === 'audit' && item.entity_id === customerId,
    );
    expect(audit.map((entry) => entry.action).sort()).toEqual([
      'customer.created',
      'customer.payment_method_attached',
      'customer.payment_method_attached',
    ]);
  });

  it('a list pages with a cursor, oldest first, every method once', async () => {
    const customerId = await newCustomer();
    const ids: string[] = [];
    for (let i = 0; i < 3; i++)
      ids.push((await attachPaymentMethod(table(), customerId, { card: visa }, caller())).id);
    const first = await listPaymentMethods(table(), customerId, { limit: 2 }, caller());
    expect(first.next_cursor).not.toBeNull();
    const second = await listPaymentMethods(
      table(),
      customerId,
      { limit: 2, cursor: first.next_cursor! },
      caller(),
    );
    expect([...first.data, ...second.data].map((m) => m.id).sort()).toEqual([...ids].sort());
    expect(second.next_cursor).toBeNull();
  });

  it('an attach retried with a taken Idempotency-Key writes nothing the second time', async () => {
    const customerId = await newCustomer();
    const claim = idempotencyClaim('op', 'payment-methods-attach', `k-${customerId}`, 'h', NOW, 3600);
    const record = (body: unknown) => ({ claim, response: { status: 201, body } });
    await attachPaymentMethod(table(), customerId, { card: visa }, caller(), { record });
    const before = (await store.allItems()).length;
    await expect(
      attachPaymentMethod(table(), customerId, { card: visa }, caller(), { record }),
    ).rejects.toBeInstanceOf(IdempotencyKeyTaken);
    expect((await store.allItems()).length).toBe(before);
  });

  it('detaching the default leaves no default; the detached method is not listed but can still be read', async () => {
    const customerId = await newCustomer();
    const method = await attachPaymentMethod(
      table(),
      customerId,
      { card: visa, set_default: true },
      caller(),
    );
    expect(method.default).toBe(true);
    const gone = await detachPaymentMethod(table(), customerId, method.id, caller());
    expect(gone).toMatchObject({ status: 'detached', default: false, detached_at: NOW.toISOString() });
    expect((await listPaymentMethods(table(), customerId, { limit: 10 }, caller())).data).toEqual([]);
    expect(await getPaymentMethod(table(), customerId, method.id, caller())).toMatchObject({
      status: 'detached',
    });
    const defaults = (await store.allItems()).find(
      (item) => item.PK === `CUSTOMER#${customerId}` && item.SK === 'DEFAULT_PAYMENT_METHOD',
    );
    expect(defaults?.payment_method_id).toBeNull();
    // Detaching again answers the same state, without a second audit entry.
    await detachPaymentMethod(table(), customerId, method.id, caller());
    const detaches = (await store.allItems()).filter(
      (item) => item.action === 'customer.payment_method_detached',
    );
    expect(detaches.filter((item) => item.entity_id === customerId)).toHaveLength(1);
  });

  it('an expired card is shown expired and cannot become the default', async () => {
    const customerId = await newCustomer();
    const old = await attachPaymentMethod(
      table(),
      customerId,
      { card: { ...visa, exp_month: 11, exp_year: 2026 } },
      caller(),
    );
    expect(old.expired).toBe(true);
    await expect(setDefaultPaymentMethod(table(), customerId, old.id, caller())).rejects.toMatchObject({
      kind: 'unprocessable',
      fieldErrors: [{ field: 'pm_id' }],
    });
    // Nor by attaching it with set_default: refused, naming set_default, and nothing attached.
    const before = (await store.allItems()).length;
    await expect(
      attachPaymentMethod(
        table(),
        customerId,
        { card: { ...visa, exp_month: 11, exp_year: 2026 }, set_default: true },
        caller(),
      ),
    ).rejects.toMatchObject({ kind: 'unprocessable', fieldErrors: [{ field: 'set_default' }] });
    expect((await store.allItems()).length).toBe(before);
    // The same card read in its last valid month was not expired.
    const earlier = await getPaymentMethod(
      table(),
      customerId,
      old.id,
      caller(operator(), new Date('2026-11-30T23:00:00Z')),
    );
    expect(earlier.expired).toBe(false);
  });

  it("a tenant manages its own methods and another tenant's do not exist for it", async () => {
    const mine = await newCustomer();
    const theirs = await newCustomer();
    const own = await attachPaymentMethod(table(), mine, { card: visa }, caller(tenantUser(mine)));
    await setDefaultPaymentMethod(table(), mine, own.id, caller(tenantUser(mine)));
    const other = caller(tenantUser(theirs));
    await expect(getPaymentMethod(table(), mine, own.id, other)).rejects.toMatchObject({ kind: 'not-found' });
    await expect(listPaymentMethods(table(), mine, { limit: 5 }, other)).rejects.toMatchObject({
      kind: 'not-found',
    });
    await expect(attachPaymentMethod(table(), mine, { card: visa }, other)).rejects.toMatchObject({
      kind: 'not-found',
    });
    await expect(detachPaymentMethod(table(), mine, own.id, other)).rejects.toMatchObject({
      kind: 'not-found',
    });
    // Nor under its own customer id: the method is looked up within the customer named.
    await expect(getPaymentMethod(table(), theirs, own.id, other)).rejects.toMatchObject({
      kind: 'not-found',
    });
    expect((await getPaymentMethod(table(), mine, own.id, caller())).default).toBe(true);
  });

  it('a Stripe pm id cannot be attached while Stripe is not configured', async () => {
    const customerId = await newCustomer();
    await expect(
      attachPaymentMethod(table(), customerId, { payment_method: 'pm_card_visa' }, caller()),
    ).rejects.toMatchObject({ kind: 'unprocessable', fieldErrors: [{ field: 'payment_method' }] });
  });
});

let eventSequence = 0;
const event = (type: string, object: object, created: number, extra: object = {}) => ({
  id: `evt_pm_${++eventSequence}_${Date.now()}`,
  object: 'event',
  type,
  created,
  livemode: false,
  data: { object, ...extra },
});

describe('payment methods with Stripe, kept in step by webhooks', () => {
  beforeEach(() => stripeMode(true));

  async function mirrored() {
    const customer = await createCustomer(table(), customerInput(), caller(), undefined);
    return { id: customer.id, stripeId: customer.stripe_customer_id! };
  }

  it('attaching sends the pm to Stripe and stores what Stripe answers; set_default sets both defaults', async () => {
    const customer = await mirrored();
    const method = await attachPaymentMethod(
      table(),
      customer.id,
      { payment_method: 'pm_card_mastercard', set_default: true },
      caller(),
    );
    expect(method).toMatchObject({
      source: 'stripe',
      card: { brand: 'mastercard', last4: '4444', exp_month: 12, exp_year: 2034 },
      default: true,
    });
    expect(method.id).toMatch(/^pm_/);
    expect(stripe.paymentMethods.get(method.id)?.customer).toBe(customer.stripeId);
    expect(stripe.customers.get(customer.stripeId)?.invoice_settings.default_payment_method).toBe(method.id);
  });

  it("a method Stripe refuses (unknown, or another customer's) is a 422 naming payment_method", async () => {
    const a = await mirrored();
    const b = await mirrored();
    await expect(
      attachPaymentMethod(table(), a.id, { payment_method: 'pm_doesnotexist' }, caller()),
    ).rejects.toMatchObject({ kind: 'unprocessable', fieldErrors: [{ field: 'payment_method' }] });
    const taken = await attachPaymentMethod(table(), b.id, { payment_method: 'pm_card_visa' }, caller());
    await expect(
      attachPaymentMethod(table(), a.id, { payment_method: taken.id }, caller()),
    ).rejects.toMatchObject({ kind: 'unprocessable', fieldErrors: [{ field: 'payment_method' }] });
  });

  it('a method attached in the Dashboard arrives by webhook; an older update after a newer one is ignored', async () => {
    const customer = await mirrored();
    const pm = stripe.createPaymentMethod({ exp_month: 1, exp_year: 2027 });
    const object = (exp_year: number) => ({
      id: pm,
      object: 'payment_method',
      type: 'card',
      customer: customer.stripeId,
      card: { brand: 'visa', last4: '4242', exp_month: 1, exp_year },
    });
    const at = 1_790_000_000;
    expect(await receiveStripeEvent(table(), event('payment_method.attached', object(2027), at), NOW)).toBe(
      'processed',
    );
    await receiveStripeEvent(table(), event('payment_method.updated', object(2031), at + 20), NOW);
    // Delivered late: the card's expiry before the renewal.
    await receiveStripeEvent(table(), event('payment_method.updated', object(2029), at + 10), NOW);
    const method = await getPaymentMethod(table(), customer.id, pm, caller());
    expect(method.card?.exp_year).toBe(2031);
    expect(method.synced_at).toBe(at + 20);
  });

  it('a detached method stays detached whatever arrives after, and stops being the default', async () => {
    const customer = await mirrored();
    const method = await attachPaymentMethod(
      table(),
      customer.id,
      { payment_method: 'pm_card_visa', set_default: true },
      caller(),
    );
    const at = Math.floor(NOW.getTime() / 1000) + 60;
    const object = {
      id: method.id,
      object: 'payment_method',
      type: 'card',
      customer: null,
      card: method.card,
    };
    await receiveStripeEvent(
      table(),
      event('payment_method.detached', object, at, { previous_attributes: { customer: customer.stripeId } }),
      NOW,
    );
    // Older events delivered after the detachment: the attachment, and the default pointing at it.
    await receiveStripeEvent(
      table(),
      event('payment_method.attached', { ...object, customer: customer.stripeId }, at - 30),
      NOW,
    );
    await receiveStripeEvent(
      table(),
      event(
        'customer.updated',
        {
          id: customer.stripeId,
          object: 'customer',
          metadata: { billing_customer_id: customer.id },
          invoice_settings: { default_payment_method: method.id },
        },
        at - 20,
      ),
      NOW,
    );
    const read = await getPaymentMethod(table(), customer.id, method.id, caller());
    expect(read).toMatchObject({ status: 'detached', default: false });
  });

  it('customer.updated sets the default in Stripe time order; a redelivery is a duplicate', async () => {
    const customer = await mirrored();
    const one = await attachPaymentMethod(table(), customer.id, { payment_method: 'pm_card_visa' }, caller());
    const two = await attachPaymentMethod(table(), customer.id, { payment_method: 'pm_card_amex' }, caller());
    const updated = (pm: string | null, created: number) =>
      event(
        'customer.updated',
        {
          id: customer.stripeId,
          object: 'customer',
          metadata: { billing_customer_id: customer.id },
          invoice_settings: { default_payment_method: pm },
        },
        created,
      );
    const at = Math.floor(NOW.getTime() / 1000) + 100;
    const newer = updated(two.id, at + 2);
    await receiveStripeEvent(table(), newer, NOW);
    await receiveStripeEvent(table(), updated(one.id, at + 1), NOW);
    expect(await receiveStripeEvent(table(), newer, NOW)).toBe('duplicate');
    const page = await listPaymentMethods(table(), customer.id, { limit: 10 }, caller());
    // Both attached at the same (fixed) moment: the list's order between them is by id, so compare as a map.
    expect(Object.fromEntries(page.data.map((m) => [m.id, m.default]))).toEqual({
      [one.id]: false,
      [two.id]: true,
    });
  });

  it('detaching goes to Stripe first, which also clears its default', async () => {
    const customer = await mirrored();
    const method = await attachPaymentMethod(
      table(),
      customer.id,
      { payment_method: 'pm_card_visa', set_default: true },
      caller(),
    );
    await detachPaymentMethod(table(), customer.id, method.id, caller());
    expect(stripe.paymentMethods.get(method.id)?.customer).toBeNull();
    expect(stripe.customers.get(customer.stripeId)?.invoice_settings.default_payment_method).toBeNull();
    // Stripe's own detached event, arriving afterwards, changes nothing more.
    await receiveStripeEvent(
      table(),
      event(
        'payment_method.detached',
        { id: method.id, object: 'payment_method', type: 'card', customer: null, card: method.card },
        Math.floor(NOW.getTime() / 1000) + 1,
      ),
      NOW,
    );
    expect(await getPaymentMethod(table(), customer.id, method.id, caller())).toMatchObject({
      status: 'detached',
      version: 2,
    });
  });

  it('a method detached at Stripe already (the Dashboard, no webhook yet) detaches here too', async () => {
    const customer = await mirrored();
    const method = await attachPaymentMethod(
      table(),
      customer.id,
      { payment_method: 'pm_card_visa' },
      caller(),
    );
    const direct = await fetch(`${stripe.url}/v1/payment_methods/${method.id}/detach`, {
      method: 'POST',
      headers: { authorization: 'Bearer sk_test_pm' },
    });
    expect(direct.status).toBe(200);
    const detached = await detachPaymentMethod(table(), customer.id, method.id, caller());
    expect(detached.status).toBe('detached');
    // Stripe answered "not attached" to our detach, and the gateway looked before calling it done.
    const sent = stripe.requests.filter((r) => r.path.startsWith(`/v1/payment_methods/${method.id}`));
    // (The attach went to pm_card_visa, the test token that made this method.)
    expect(sent.map((r) => [r.method, r.path.split('/').pop(), r.status])).toEqual([
      ['POST', 'detach', 200],
      ['POST', 'detach', 400],
      ['GET', method.id, 200],
    ]);
  });
});
