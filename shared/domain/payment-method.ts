import { DomainError } from './errors.ts';

/**
 * A customer's payment methods (CUSTOMER ||--o{ PAYMENT_METHOD): the cards (or other instruments)
 * Stripe can charge for it, mirrored here so callers can list, choose and change them. Pure values.
 *
 * Ordering: Stripe's webhooks arrive late, twice and out of order. Every stored state carries the
 * Stripe time (`synced_at`, whole seconds, as Stripe's event `created`) of the latest event applied,
 * and an event older than that changes nothing. Our own writes (`at` null: the API changed Stripe,
 * then us) apply at once and leave `synced_at` as it was: they are stamped by no Stripe clock, and
 * the event Stripe sends for the same change comes later and is newer than any event before it, so
 * the state ends where Stripe's does. (Stamping them with our clock would make a skewed clock, or
 * the local service's simulated one, ignore Stripe's real events.) Detaching is permanent at Stripe
 * (a detached PaymentMethod can never be attached again), so a detached method stays detached
 * whatever arrives after.
 */
export type CardDetails = {
  /** Stripe's brand name: visa, mastercard, amex, … */
  brand: string;
  last4: string;
  /** 1-12 */
  exp_month: number;
  exp_year: number;
};

export type PaymentMethod = {
  /** Stripe's `pm_…` id; for a method described offline, one of ours (`pm_offline_…`). */
  id: string;
  customer_id: string;
  /** `stripe`: attached to the customer's Stripe customer. `offline`: described by the caller while no Stripe was configured; nothing can charge it. */
  source: 'stripe' | 'offline';
  /** Stripe's type: card, sepa_debit, us_bank_account, … */
  type: string;
  card: CardDetails | null;
  status: 'attached' | 'detached';
  created_at: string;
  updated_at: string;
  detached_at: string | null;
  /** The Stripe time (Unix seconds) of the latest state this holds: an older event is ignored. */
  synced_at: number;
  version: number;
};

/** Which payment method a customer's invoices are charged with when the pay names none. */
export type DefaultPaymentMethod = {
  customer_id: string;
  payment_method_id: string | null;
  synced_at: number;
  version: number;
};

/** A payment method as the API shows it: with whether it is the default and whether its card expired. */
export type PaymentMethodView = PaymentMethod & { default: boolean; expired: boolean };

/** A card is valid through the last day of its expiry month (UTC); expired from the month after. */
export function isExpired(card: CardDetails | null, now: Date): boolean {
  if (!card) return false;
  const year = now.getUTCFullYear();
  const month = now.getUTCMonth() + 1;
  return card.exp_year < year || (card.exp_year === year && card.exp_month < month);
}

export const viewOf = (method: PaymentMethod, defaultId: string | null, now: Date): PaymentMethodView => ({
  ...method,
  default: method.status === 'attached' && method.id === defaultId,
  expired: isExpired(method.card, now),
});

/** "visa •••• 4242 (expires 08/2027)": how messages name a method without showing more of it. */
export function describe(method: Pick<PaymentMethod, 'id' | 'type' | 'card'>): string {
  if (!method.card) return `${method.type} ${method.id}`;
  const { brand, last4, exp_month, exp_year } = method.card;
  return `${brand} •••• ${last4} (expires ${String(exp_month).padStart(2, '0')}/${exp_year})`;
}

const WHAT_TO_DO =
  'attach a new card and set it as default (POST /api/v1/customers/{id}/payment-methods with "set_default": true), then pay again';

/**
 * Why `method` cannot be charged for `customerId` now, as a 422 naming `field`; nothing when it can.
 * A method of another customer reads as unknown, so its existence is not revealed.
 */
export function refuseToCharge(
  method: PaymentMethod | undefined,
  customerId: string,
  now: Date,
  field: string,
  requestedId: string,
): DomainError | undefined {
  const refuse = (message: string) =>
    new DomainError('unprocessable', `${field}: ${message}`, [{ field, message }]);
  if (!method || method.customer_id !== customerId) {
    return refuse(`${requestedId} is not a payment method of customer ${customerId}`);
  }
  if (method.status === 'detached') {
    return refuse(`${method.id} was detached from customer ${customerId} and can no longer be charged`);
  }
  if (isExpired(method.card, now)) {
    return refuse(
      `the card ${describe(method)} has expired, so Stripe would decline it: ${WHAT_TO_DO.replace('{id}', customerId)}`,
    );
  }
  return undefined;
}

/** What Stripe reports of a payment method in an API answer or a webhook. */
export type StripeMethodState = { id: string; type: string; card: CardDetails | null };

/**
 * The method after Stripe reported it attached (or updated) at `at`, or undefined when that changes
 * nothing: an older report, a method detached since (permanent), or the very state already held.
 */
export function withStripeState(
  current: PaymentMethod | undefined,
  customerId: string,
  state: StripeMethodState,
  at: number | null,
  now: Date,
  source: PaymentMethod['source'] = 'stripe',
): PaymentMethod | undefined {
  if (!current) {
    return {
      id: state.id,
      customer_id: customerId,
      source,
      type: state.type,
      card: state.card,
      status: 'attached',
      created_at: now.toISOString(),
      updated_at: now.toISOString(),
      detached_at: null,
      synced_at: at ?? 0,
      version: 1,
    };
  }
  if (current.status === 'detached' || (at !== null && at < current.synced_at)) return undefined;
  // The same state reported later still moves synced_at on, so an event older than this one (but
  // newer than the state held) cannot then overwrite it.
  const newer = at !== null && at > current.synced_at;
  if (current.type === state.type && sameCard(current.card, state.card) && !newer) {
    return undefined;
  }
  return {
    ...current,
    type: state.type,
    card: state.card,
    updated_at: now.toISOString(),
    synced_at: Math.max(current.synced_at, at ?? 0),
    version: current.version + 1,
  };
}

/** The method detached at `at`; undefined when it already is (detaching is permanent, whatever `at`). */
export function detached(current: PaymentMethod, at: number | null, now: Date): PaymentMethod | undefined {
  if (current.status === 'detached') return undefined;
  return {
    ...current,
    status: 'detached',
    detached_at: now.toISOString(),
    updated_at: now.toISOString(),
    synced_at: Math.max(current.synced_at, at ?? 0),
    version: current.version + 1,
  };
}

/**
 * The customer's default after it was set to `paymentMethodId` (null: none) at `at`, or undefined
 * when that changes nothing (the same default, or an older report than the one held).
 */
export function withDefault(
  current: DefaultPaymentMethod | undefined,
  customerId: string,
  paymentMethodId: string | null,
  at: number | null,
): DefaultPaymentMethod | undefined {
  if (current && at !== null && at < current.synced_at) return undefined;
  // The same default reported later still moves synced_at on (see withStripeState), and "no default"
  // is recorded too, with its time: an older report arriving after it must not set one.
  const newer = at !== null && at > (current?.synced_at ?? 0);
  if (current?.payment_method_id === paymentMethodId && !newer) return undefined;
  if (!current && paymentMethodId === null && at === null) return undefined;
  return {
    customer_id: customerId,
    payment_method_id: paymentMethodId,
    synced_at: Math.max(current?.synced_at ?? 0, at ?? 0),
    version: (current?.version ?? 0) + 1,
  };
}

const sameCard = (a: CardDetails | null, b: CardDetails | null): boolean =>
  a === b ||
  (a !== null &&
    b !== null &&
    a.brand === b.brand &&
    a.last4 === b.last4 &&
    a.exp_month === b.exp_month &&
    a.exp_year === b.exp_year);
