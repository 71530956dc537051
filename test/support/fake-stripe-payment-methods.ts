import type { FakeCustomer, FormParams } from './fake-stripe.ts';

export type FakeCard = { brand: string; last4: string; exp_month: number; exp_year: number };

export type FakePaymentMethod = {
  id: string;
  object: 'payment_method';
  created: number;
  livemode: false;
  type: 'card';
  customer: string | null;
  card: FakeCard & { country: 'US'; funding: 'credit' };
  billing_details: { address: null; email: null; name: null; phone: null };
  metadata: Record<string, string>;
  /** Not Stripe's: detaching is permanent there, and this remembers it. */
  detached: boolean;
};

/** Stripe's test-mode tokens: attaching one makes a new PaymentMethod with an id of its own. */
export const TEST_CARDS: Record<string, FakeCard> = {
  pm_card_visa: { brand: 'visa', last4: '4242', exp_month: 12, exp_year: 2034 },
  pm_card_mastercard: { brand: 'mastercard', last4: '4444', exp_month: 12, exp_year: 2034 },
  pm_card_amex: { brand: 'amex', last4: '8431', exp_month: 12, exp_year: 2034 },
};

type Answer = { status: number; body: unknown };

/** The wire helpers of the fake (ids, time, Stripe's error shapes), passed in to keep one copy. */
export type FakeWire = {
  newId: (prefix: string) => string;
  now: () => number;
  text: (value: FormParams[string] | undefined) => string | undefined;
  invalid: (message: string, param: string) => Answer;
  missing: (resource: string, id: string, param: string) => Answer;
};

/**
 * The fake Stripe's PaymentMethods (test/support/fake-stripe.ts): attach, detach, retrieve, and the
 * customer's invoice default, answered as Stripe answers them, with Stripe's rules: a method belongs
 * to one customer, and detaching is permanent and clears the customer's invoice default.
 */
export function fakePaymentMethods(
  customers: Map<string, FakeCustomer>,
  /** Payment method ids attached per Stripe customer: what a PaymentIntent may charge. */
  attached: Map<string, Set<string>>,
  { newId, now, text, invalid, missing }: FakeWire,
) {
  const paymentMethods = new Map<string, FakePaymentMethod>();

  function newPaymentMethod(card: FakeCard): FakePaymentMethod {
    const method: FakePaymentMethod = {
      id: newId('pm'),
      object: 'payment_method',
      created: now(),
      livemode: false,
      type: 'card',
      customer: null,
      card: { ...card, country: 'US', funding: 'credit' },
      billing_details: { address: null, email: null, name: null, phone: null },
      metadata: {},
      detached: false,
    };
    paymentMethods.set(method.id, method);
    return method;
  }

  const shown = ({ detached: _detached, ...method }: FakePaymentMethod) => method;

  function attachPaymentMethod(id: string, params: FormParams): Answer {
    const customerId = text(params.customer);
    if (!customerId) return invalid('Missing required param: customer.', 'customer');
    if (!customers.has(customerId)) return missing('customer', customerId, 'customer');
    const testCard = TEST_CARDS[id];
    const method = testCard ? newPaymentMethod(testCard) : paymentMethods.get(id);
    if (!method) return missing('PaymentMethod', id, 'payment_method');
    if (method.detached) {
      return invalid(
        'The payment method you provided has already been attached to a customer and detached; it cannot be reused.',
        'payment_method',
      );
    }
    if (method.customer && method.customer !== customerId) {
      return invalid(
        'The payment method you provided has already been attached to a customer.',
        'payment_method',
      );
    }
    method.customer = customerId;
    const methods = attached.get(customerId) ?? new Set<string>();
    methods.add(method.id);
    attached.set(customerId, methods);
    return { status: 200, body: shown(method) };
  }

  function detachPaymentMethod(id: string): Answer {
    const method = paymentMethods.get(id);
    if (!method) return missing('PaymentMethod', id, 'payment_method');
    if (!method.customer) {
      return invalid(
        'The payment method you provided is not attached to a customer so detachment is impossible.',
        'payment_method',
      );
    }
    const customer = customers.get(method.customer);
    attached.get(method.customer)?.delete(id);
    // Stripe stops using a detached method as the invoice default.
    if (customer?.invoice_settings.default_payment_method === id) {
      customer.invoice_settings.default_payment_method = null;
    }
    method.customer = null;
    method.detached = true;
    return { status: 200, body: shown(method) };
  }

  /** Customer updates: only `invoice_settings[default_payment_method]`, which must be attached to it. */
  function updateCustomer(id: string, params: FormParams): Answer {
    const customer = customers.get(id);
    if (!customer) return missing('customer', id, 'id');
    const settings = params.invoice_settings;
    if (typeof settings === 'object' && !Array.isArray(settings) && 'default_payment_method' in settings) {
      const pm = text(settings.default_payment_method);
      if (pm && !attached.get(id)?.has(pm)) {
        return invalid(
          `No such PaymentMethod: '${pm}'; It's possible this PaymentMethod exists on one of your connected accounts, in which case you should retry this request on that connected account.`,
          'invoice_settings[default_payment_method]',
        );
      }
      customer.invoice_settings.default_payment_method = pm || null;
    }
    return { status: 200, body: customer };
  }

  return {
    paymentMethods,
    updateCustomer,
    create: newPaymentMethod,
    attach: attachPaymentMethod,
    detach: detachPaymentMethod,
    retrieve(id: string): Answer {
      const found = paymentMethods.get(id);
      return found ? { status: 200, body: shown(found) } : missing('PaymentMethod', id, 'payment_method');
    },
  };
}
