import type Stripe from 'stripe';
import { DomainError } from '../domain/errors.ts';
import type { StripeMethodState } from '../domain/payment-method.ts';
import type { StripeRefundState } from '../domain/refund.ts';
import { stripeCredentials } from './stripe-credentials.ts';

/**
 * The Stripe API in billing terms (our customer id, our invoice id, minor units), with Stripe's
 * failures turned into typed errors, so no caller needs to know the Stripe client's error classes.
 * The implementation (stripe-client-gateway.ts, the only module that calls the Stripe API; the
 * webhook handler only verifies signatures) is imported when a gateway is first built, so the
 * Stripe client (about 240 KiB of bundle) is parsed only by the Lambdas that charge or attach.
 */
export interface StripeGateway {
  /**
   * Creates the Stripe customer mirroring one of ours and returns its id. Idempotent on our id for
   * as long as Stripe keeps idempotency keys (24 hours): store the returned id and call this only
   * while `stripe_customer_id` is null.
   */
  ensureCustomer(input: { customerId: string; name: string; email: string }): Promise<string>;
  /**
   * Charges the customer's default payment method off-session. The same (invoiceId, attempt) never
   * charges twice; a new attempt after a decline may. A decline is a result, not an error.
   */
  collectInvoice(input: CollectInvoiceInput): Promise<CollectInvoiceResult>;
  /** The customer's default payment method in Stripe; PaymentMethodMissing when there is none. */
  defaultPaymentMethod(stripeCustomerId: string): Promise<string>;
  /**
   * Attaches a PaymentMethod (`pm_…`) to the Stripe customer and returns what Stripe knows of it (a
   * test token such as `pm_card_visa` becomes a new PaymentMethod with an id of its own). Attaching
   * one already attached to this customer is a no-op at Stripe. PaymentMethodRefused when Stripe
   * refuses it (unknown, attached to someone else, detached).
   */
  attachPaymentMethod(paymentMethodId: string, stripeCustomerId: string): Promise<StripeMethodState>;
  /** Detaches it for good (Stripe also clears it as the customer's default); already detached is done. */
  detachPaymentMethod(paymentMethodId: string): Promise<void>;
  /** Sets (null: clears) the customer's `invoice_settings.default_payment_method`. */
  setDefaultPaymentMethod(stripeCustomerId: string, paymentMethodId: string | null): Promise<void>;
  /** Our customer id in the Stripe customer's metadata (set when mirrored); undefined when none or deleted. */
  billingCustomerIdOf(stripeCustomerId: string): Promise<string | undefined>;
  /**
   * Refunds part or all of a PaymentIntent. Idempotent on our refund id (`refund:<id>`): sending the
   * same refund again, after a timeout or from the hourly resend, never refunds twice.
   */
  refundPayment(input: RefundPaymentInput): Promise<StripeRefundState>;
}

export type RefundPaymentInput = {
  refundId: string;
  invoiceId: string;
  paymentIntentId: string;
  /** Integer minor units, above 0. */
  amount: number;
};

export type CollectInvoiceInput = {
  invoiceId: string;
  stripeCustomerId: string;
  /** Integer minor units of `currency`. */
  amount: number;
  /** ISO-4217 code, any case (Stripe wants lower case). */
  currency: string;
  /** 1 for the first try; increment only after a definitive outcome (a decline), never after a StripeUnavailable. */
  attempt: number;
  /**
   * The payment method to charge; pin it per attempt (every retry of an attempt must send the same
   * parameters, or Stripe refuses the reused idempotency key). Default: the customer's default one.
   */
  paymentMethod?: string | undefined;
};

export type CollectInvoiceResult = {
  paymentIntentId: string;
  /** The PaymentIntent's status: `succeeded`, `processing`, or `requires_payment_method` after a decline. */
  status: string;
  /** After a decline: Stripe's decline code (e.g. `insufficient_funds`) or error code. */
  failureCode?: string;
};

export type StripeGatewayOptions = {
  /** Per-request timeout. Tests shorten it; production keeps the default. */
  timeoutMs?: number;
};

/** The customer has no default payment method in Stripe (or no longer exists there): nothing to charge. */
export class PaymentMethodMissing extends DomainError {
  constructor(readonly stripeCustomerId: string) {
    super('unprocessable', `Stripe customer ${stripeCustomerId} has no default payment method to charge`);
    this.name = 'PaymentMethodMissing';
  }
}

/** Stripe refused the payment method named by the caller: a 422 naming the field, Stripe's reason in the message. */
export class PaymentMethodRefused extends DomainError {
  constructor(paymentMethodId: string, stripeMessage: string) {
    super('unprocessable', `Stripe refused payment method ${paymentMethodId}: ${stripeMessage}`, [
      { field: 'payment_method', message: stripeMessage },
    ]);
    this.name = 'PaymentMethodRefused';
  }
}

/**
 * Stripe did not give a usable answer: 5xx or conflicts after the client's own retries, a timeout, a
 * connection failure, or a request Stripe refused. The message is safe to show (it becomes a 503's
 * detail); Stripe's own message stays in `stripeMessage` for the logs.
 */
export class StripeUnavailable extends DomainError {
  constructor(
    readonly details: {
      /** Stripe's `Request-Id`, when a response arrived: what Stripe support asks for. */
      requestId: string | undefined;
      statusCode: number | undefined;
      /** Stripe's error type (`api_error`, `idempotency_error`, …), or the client's class name. */
      stripeType: string | undefined;
      code: string | undefined;
      stripeMessage: string;
      /**
       * Whether trying again later with the same arguments can help (timeouts, connection errors,
       * 5xx, 409, 429). False for requests Stripe refused (bad key, invalid or mismatched parameters).
       */
      retryable: boolean;
    },
    options?: { cause?: unknown },
  ) {
    super(
      'service-unavailable',
      `Stripe did not complete the request${details.requestId ? ` (Stripe request ${details.requestId})` : ''}`,
    );
    this.name = 'StripeUnavailable';
    if (options && 'cause' in options) this.cause = options.cause;
  }

  get requestId(): string | undefined {
    return this.details.requestId;
  }

  get retryable(): boolean {
    return this.details.retryable;
  }
}

const DEFAULT_TIMEOUT_MS = 10_000;
/** On top of the first try; the client waits about 0.5 s between tries and reuses the idempotency key. */
const MAX_NETWORK_RETRIES = 2;

const cache = new Map<number, Promise<StripeGateway | undefined>>();

/**
 * The gateway of this process, or undefined in offline mode (no secret key configured). Built once
 * per timeout; a failure to read the credentials is not cached.
 */
export function stripeGateway(options: StripeGatewayOptions = {}): Promise<StripeGateway | undefined> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  let gateway = cache.get(timeoutMs);
  if (!gateway) {
    gateway = build(timeoutMs).catch((error: unknown) => {
      cache.delete(timeoutMs);
      throw error;
    });
    cache.set(timeoutMs, gateway);
  }
  return gateway;
}

/** For tests, which change the environment (and reset config and credentials) between cases. */
export function resetStripeGateway(): void {
  cache.clear();
}

async function build(timeoutMs: number): Promise<StripeGateway | undefined> {
  const { secretKey } = await stripeCredentials();
  if (!secretKey) return undefined;
  const { StripeClientGateway } = await import('./stripe-client-gateway.ts');
  return new StripeClientGateway(secretKey, { timeoutMs, maxNetworkRetries: MAX_NETWORK_RETRIES });
}

/** What we keep of a Stripe PaymentMethod: never more of a card than Stripe itself shows. */
export function methodState(method: Stripe.PaymentMethod): StripeMethodState {
  const card = method.card;
  return {
    id: method.id,
    type: method.type,
    card: card
      ? { brand: card.brand, last4: card.last4, exp_month: card.exp_month, exp_year: card.exp_year }
      : null,
  };
}

/** What we keep of a Stripe Refund (the create answer, and the refund.* / charge.refunded webhooks). */
export function stripeRefundState(
  refund: Pick<Stripe.Refund, 'id' | 'status' | 'failure_reason'>,
): StripeRefundState {
  return {
    stripeRefundId: refund.id,
    status: refund.status ?? 'pending',
    failureReason: refund.failure_reason ?? null,
  };
}
