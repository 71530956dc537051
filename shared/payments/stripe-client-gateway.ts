import Stripe from 'stripe';
import { config } from '../config.ts';
import type { StripeMethodState } from '../domain/payment-method.ts';
import type { StripeRefundState } from '../domain/refund.ts';
import {
  type CollectInvoiceInput,
  type CollectInvoiceResult,
  methodState,
  PaymentMethodMissing,
  PaymentMethodRefused,
  type RefundPaymentInput,
  type StripeGateway,
  StripeUnavailable,
  stripeRefundState,
} from './stripe-gateway.ts';

// The only module that calls the Stripe API: stripe-gateway.ts's StripeGateway on the Stripe client.
// Imported by stripeGateway() when it first builds a gateway, never statically.

/** `STRIPE_API_BASE` (e.g. `http://127.0.0.1:12345`) as the client's host/port/protocol options. */
function apiEndpoint(base: string | undefined): Pick<Stripe.StripeConfig, 'host' | 'port' | 'protocol'> {
  if (!base) return {};
  const url = new URL(base);
  const protocol = url.protocol.slice(0, -1);
  if ((protocol !== 'http' && protocol !== 'https') || (url.pathname !== '/' && url.pathname !== '')) {
    throw new Error(`STRIPE_API_BASE must be an http(s) origin without a path, got "${base}"`);
  }
  return {
    protocol,
    // URL keeps IPv6 brackets in hostname; node:http wants the bare address.
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: url.port ? Number(url.port) : protocol === 'https' ? 443 : 80,
  };
}

export class StripeClientGateway implements StripeGateway {
  private readonly stripe: Stripe;

  constructor(secretKey: string, options: { timeoutMs: number; maxNetworkRetries: number }) {
    this.stripe = new Stripe(secretKey, {
      maxNetworkRetries: options.maxNetworkRetries,
      timeout: options.timeoutMs,
      ...apiEndpoint(config().stripeApiBase),
    });
  }

  async ensureCustomer(input: { customerId: string; name: string; email: string }): Promise<string> {
    const customer = await callStripe(() =>
      this.stripe.customers.create(
        { name: input.name, email: input.email, metadata: { billing_customer_id: input.customerId } },
        { idempotencyKey: `customer-create:${input.customerId}` },
      ),
    );
    return customer.id;
  }

  async collectInvoice(input: CollectInvoiceInput): Promise<CollectInvoiceResult> {
    if (!Number.isSafeInteger(input.amount) || input.amount <= 0) {
      throw new RangeError(`amount must be a positive integer of minor units, got ${input.amount}`);
    }
    if (!Number.isSafeInteger(input.attempt) || input.attempt < 1) {
      throw new RangeError(`attempt must be a positive integer, got ${input.attempt}`);
    }
    const key = `invoice-pay:${input.invoiceId}:${input.attempt}`;
    const paymentMethod = input.paymentMethod ?? (await this.defaultPaymentMethod(input.stripeCustomerId));
    try {
      const intent = await this.stripe.paymentIntents.create(
        {
          amount: input.amount,
          currency: input.currency.toLowerCase(),
          customer: input.stripeCustomerId,
          payment_method: paymentMethod,
          confirm: true,
          off_session: true,
          // Without this, confirming with Dashboard-enabled payment methods demands a return_url,
          // which an off-session charge has no use for.
          automatic_payment_methods: { enabled: true, allow_redirects: 'never' },
          // The webhook finds the invoice, and orders declines, by these.
          metadata: { billing_invoice_id: input.invoiceId, billing_attempt: String(input.attempt) },
        },
        { idempotencyKey: key },
      );
      return { paymentIntentId: intent.id, status: intent.status };
    } catch (error) {
      // A decline answers 402 with the PaymentIntent (now requires_payment_method) inside the error.
      if (error instanceof Stripe.errors.StripeCardError && error.payment_intent) {
        const failureCode = error.decline_code ?? error.code;
        return {
          paymentIntentId: error.payment_intent.id,
          status: error.payment_intent.status,
          ...(failureCode ? { failureCode } : {}),
        };
      }
      throw unavailable(error);
    }
  }

  async defaultPaymentMethod(stripeCustomerId: string): Promise<string> {
    const customer = await callStripe(() => this.stripe.customers.retrieve(stripeCustomerId));
    if (customer.deleted) throw new PaymentMethodMissing(stripeCustomerId);
    const method = customer.invoice_settings?.default_payment_method;
    if (!method) throw new PaymentMethodMissing(stripeCustomerId);
    return typeof method === 'string' ? method : method.id;
  }

  async attachPaymentMethod(paymentMethodId: string, stripeCustomerId: string): Promise<StripeMethodState> {
    try {
      // No idempotency key of ours: attaching is naturally idempotent for a real PaymentMethod, and
      // the client keys its own retries.
      const method = await this.stripe.paymentMethods.attach(paymentMethodId, { customer: stripeCustomerId });
      return methodState(method);
    } catch (error) {
      // 4xx invalid_request_error: no such method, attached to another customer, detached (permanent).
      if (error instanceof Stripe.errors.StripeInvalidRequestError && (error.statusCode ?? 500) < 500) {
        throw new PaymentMethodRefused(paymentMethodId, error.message);
      }
      throw unavailable(error);
    }
  }

  async detachPaymentMethod(paymentMethodId: string): Promise<void> {
    try {
      await this.stripe.paymentMethods.detach(paymentMethodId);
    } catch (error) {
      // Detached before (a retry, or from the Dashboard): Stripe answers 400 "not attached"; a
      // method that no longer has a customer is as detached as we want it.
      if (error instanceof Stripe.errors.StripeInvalidRequestError) {
        const method = await callStripe(() => this.stripe.paymentMethods.retrieve(paymentMethodId));
        if (method.customer === null) return;
      }
      throw unavailable(error);
    }
  }

  async setDefaultPaymentMethod(stripeCustomerId: string, paymentMethodId: string | null): Promise<void> {
    // Setting a value is idempotent by itself; an idempotency key reused for another value later
    // would replay the old answer instead of setting the new one.
    await callStripe(() =>
      this.stripe.customers.update(stripeCustomerId, {
        invoice_settings: { default_payment_method: paymentMethodId ?? '' },
      }),
    );
  }

  async refundPayment(input: RefundPaymentInput): Promise<StripeRefundState> {
    if (!Number.isSafeInteger(input.amount) || input.amount <= 0) {
      throw new RangeError(`amount must be a positive integer of minor units, got ${input.amount}`);
    }
    const refund = await callStripe(() =>
      this.stripe.refunds.create(
        {
          payment_intent: input.paymentIntentId,
          amount: input.amount,
          // The webhooks find the refund by these.
          metadata: { billing_invoice_id: input.invoiceId, billing_refund_id: input.refundId },
        },
        { idempotencyKey: `refund:${input.refundId}` },
      ),
    );
    return stripeRefundState(refund);
  }

  async billingCustomerIdOf(stripeCustomerId: string): Promise<string | undefined> {
    const customer = await callStripe(() => this.stripe.customers.retrieve(stripeCustomerId));
    if (customer.deleted) return undefined;
    return customer.metadata?.billing_customer_id || undefined;
  }
}

async function callStripe<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw unavailable(error);
  }
}

/** Stripe's errors become StripeUnavailable; anything else (a bug of ours) passes through untouched. */
function unavailable(error: unknown): unknown {
  if (!(error instanceof Stripe.errors.StripeError)) return error;
  const status = error.statusCode;
  const retryable =
    error instanceof Stripe.errors.StripeConnectionError ||
    status === undefined ||
    status === 409 ||
    status === 429 ||
    status >= 500;
  return new StripeUnavailable(
    {
      requestId: error.requestId,
      statusCode: status,
      stripeType: error.rawType ?? error.type,
      code: error.code,
      stripeMessage: error.message,
      retryable,
    },
    { cause: error },
  );
}
