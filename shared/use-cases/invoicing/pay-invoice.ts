import { DomainError, notFound } from '../../domain/errors.ts';
import { type Invoice, nextInvoiceStatus, type PendingPayment } from '../../domain/invoice.ts';
import { type Caller, requireOperator } from '../../domain/principal.ts';
import { stripeGateway } from '../../payments/stripe-gateway.ts';
import { auditBy } from '../../store/audit.ts';
import { type Idempotency, idempotencyItems, keepAnswer } from '../../store/idempotency.ts';
import { InvoicesRepository } from '../../store/invoices-repository.ts';
import type { TransactItem } from '../../store/transact.ts';
import { stripeCustomerIdOf } from '../customers.ts';
import { changingConcurrently, LOST_RACE, retryOnLostRace } from '../optimistic.ts';
import { chargeableAtStripe, storedMethodToCharge } from '../payment-methods/method-to-charge.ts';
import { invoiceFor } from './invoices.ts';
import { recordPayment, recordPaymentFailure, recordStripeCharge } from './record-payment.ts';

/**
 * POST /invoices/{id}/pay. An invoice with nothing due is settled at once. `paid_out_of_band`
 * records money received elsewhere (the only way while Stripe is not configured, as in Stripe's
 * own API). Otherwise Stripe charges `payment_method_id` (one of the customer's attached, unexpired
 * methods) or else the customer's default payment method: attempt n uses
 * idempotency key `invoice-pay:<invoice>:<n>` with the payment method pinned when the attempt
 * started, and n moves on only after a decline, so a retry after a timeout or a 503 sends the very
 * same request and can never charge twice. While a payment is processing at Stripe, pay refuses.
 */
export async function payInvoice(
  tableName: string,
  invoiceId: string,
  body: { paid_out_of_band?: boolean | undefined; payment_method_id?: string | undefined },
  caller: Caller,
  idempotency: Idempotency = undefined,
): Promise<Invoice> {
  requireOperator(caller.principal, 'pay invoices');
  // With an Idempotency-Key, the answer is kept in the same transaction that pays (or marks the
  // payment processing), so a retry after a lost response replays it instead of a 409.
  const answer = (body: Invoice) => idempotencyItems(tableName, idempotency, body);
  const invoice = await invoiceFor(tableName, invoiceId, caller.principal);
  nextInvoiceStatus(invoice.status, 'pay');
  const received_at = caller.now.toISOString();
  if (invoice.pending_payment?.status === 'processing') {
    throw new DomainError(
      'conflict',
      `Payment ${invoice.pending_payment.payment_intent_id} is processing at Stripe since ${invoice.pending_payment.since}; its outcome arrives by webhook`,
    );
  }
  if (invoice.amount_due === 0 || body.paid_out_of_band) {
    const free = invoice.amount_due === 0;
    const { invoice: paid, outcome } = await recordPayment(
      tableName,
      invoiceId,
      {
        id: `${free ? 'none' : 'oob'}_${invoiceId}`,
        method: free ? 'none' : 'out_of_band',
        stripe_payment_intent_id: null,
        received_at,
      },
      caller,
      answer,
    );
    if (outcome === 'not-payable') nextInvoiceStatus(paid.status, 'pay');
    return paid;
  }
  const attempt = invoice.payment_attempts + 1;
  const pinned = invoice.pending_payment?.attempt === attempt ? invoice.pending_payment : undefined;
  if (pinned && body.payment_method_id && body.payment_method_id !== pinned.payment_method) {
    // Stripe refuses a reused idempotency key with other parameters: this attempt must end first.
    throw new DomainError(
      'conflict',
      `Attempt ${attempt} started with payment method ${pinned.payment_method} and has no outcome yet; retry with that one (or without payment_method_id) before trying another`,
    );
  }
  // Checked before Stripe is asked, offline too: a wrong or expired method is the caller's to fix. A
  // retry of an attempt under way keeps the method pinned when it started.
  const stored = pinned
    ? undefined
    : await storedMethodToCharge(tableName, invoice.customer_id, body.payment_method_id, caller.now);
  const gateway = await stripeGateway();
  if (!gateway) {
    throw new DomainError(
      'service-unavailable',
      'Collecting through Stripe is not configured here; record a payment received elsewhere with {"paid_out_of_band": true}',
    );
  }
  const stripeCustomerId = await stripeCustomerIdOf(tableName, invoice.customer_id, gateway, caller);
  const started = await startAttempt(
    tableName,
    invoice,
    attempt,
    async () =>
      body.payment_method_id && stored
        ? chargeableAtStripe(stored)
        : stored?.source === 'stripe'
          ? stored.id
          : gateway.defaultPaymentMethod(stripeCustomerId),
    caller.now,
  );
  const result = await gateway.collectInvoice({
    invoiceId,
    stripeCustomerId,
    amount: invoice.amount_due,
    currency: invoice.currency,
    attempt,
    paymentMethod: started.payment_method,
  });
  if (result.status === 'succeeded') {
    const { invoice: settled, outcome } = await recordStripeCharge(
      tableName,
      invoice,
      {
        paymentIntentId: result.paymentIntentId,
        amount: invoice.amount_due,
        currency: invoice.currency,
        receivedAt: received_at,
      },
      caller,
      answer,
    );
    if (outcome === 'not-payable') {
      throw new DomainError(
        'conflict',
        `Invoice ${invoiceId} became ${settled.status} while Stripe charged it; the charge ${result.paymentIntentId} is recorded as an unapplied payment to refund`,
      );
    }
    return settled;
  }
  if (
    result.failureCode !== undefined ||
    result.status === 'requires_payment_method' ||
    result.status === 'canceled'
  ) {
    const code = result.failureCode ?? result.status;
    await recordPaymentFailure(
      tableName,
      invoiceId,
      { payment_intent_id: result.paymentIntentId, attempt, code, failed_at: received_at },
      caller,
    );
    throw new DomainError(
      'payment-declined',
      code === 'expired_card'
        ? `Stripe declined the payment: the card ${started.payment_method} has expired; the invoice stays unpaid. Attach a new card and set it as default (POST /api/v1/customers/${invoice.customer_id}/payment-methods with "set_default": true), then pay again`
        : `Stripe declined the payment (${code}); the invoice stays unpaid. Ask the customer to update their payment method, then pay again`,
    );
  }
  // processing (a bank debit) or waiting on the customer (requires_action): the webhook settles it.
  return markProcessing(tableName, invoiceId, attempt, result.paymentIntentId, caller, answer);
}

/**
 * The attempt's pending payment, created (payment method looked up and pinned) the first time the
 * attempt is tried and reused by every retry of it.
 */
async function startAttempt(
  tableName: string,
  invoice: Invoice,
  attempt: number,
  lookUpPaymentMethod: () => Promise<string>,
  now: Date,
): Promise<PendingPayment> {
  if (invoice.pending_payment?.attempt === attempt) return invoice.pending_payment;
  const pending: PendingPayment = {
    attempt,
    payment_method: await lookUpPaymentMethod(),
    payment_intent_id: null,
    status: 'requested',
    since: now.toISOString(),
  };
  const next: Invoice = {
    ...invoice,
    pending_payment: pending,
    updated_at: now.toISOString(),
    version: invoice.version + 1,
  };
  // No audit entry: nothing financial changed yet (the charge, or its decline, is audited).
  if (!(await new InvoicesRepository(tableName).replace(next, invoice.version))) {
    throw new DomainError(
      'version-conflict',
      `Invoice ${invoice.id} changed meanwhile (another payment attempt?); retry`,
    );
  }
  return pending;
}

async function markProcessing(
  tableName: string,
  invoiceId: string,
  attempt: number,
  paymentIntentId: string,
  caller: Caller,
  answer: (processing: Invoice) => TransactItem[],
): Promise<Invoice> {
  const repository = new InvoicesRepository(tableName);
  return retryOnLostRace(
    5,
    async () => {
      const current = await repository.get(invoiceId);
      if (!current) throw notFound('Invoice', invoiceId);
      // The webhook may already have settled it.
      if (current.pending_payment?.attempt !== attempt) {
        await keepAnswer(answer(current));
        return current;
      }
      const next: Invoice = {
        ...current,
        pending_payment: {
          ...current.pending_payment,
          payment_intent_id: paymentIntentId,
          status: 'processing',
        },
        stripe_payment_intent_id: paymentIntentId,
        updated_at: caller.now.toISOString(),
        version: current.version + 1,
      };
      const done = await repository.transition(
        next,
        current.version,
        auditBy(caller, 'invoice', invoiceId, 'invoice.payment_processing', current, next),
        answer(next),
      );
      return done ? next : LOST_RACE;
    },
    () => {
      throw changingConcurrently(`Invoice ${invoiceId}`, 'GET it to see the payment');
    },
  );
}
