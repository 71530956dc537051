import type Stripe from 'stripe';
import { type Caller, systemPrincipal } from '../domain/principal.ts';
import { logger } from '../logger.ts';
import { stripeRefundState } from '../payments/stripe-gateway.ts';
import { InvoicesRepository } from '../store/invoices-repository.ts';
import { StripeEventsRepository } from '../store/stripe-events-repository.ts';
import { recordPaymentFailure, recordStripeCharge } from './invoicing/record-payment.ts';
import { applyRefundState } from './invoicing/refund-outcomes.ts';
import { applyPaymentMethodEvent, PAYMENT_METHOD_EVENTS } from './payment-methods/sync-from-stripe.ts';

/** Who changes invoices when Stripe reports an outcome (audit entries name it). */
export const STRIPE_WEBHOOK = systemPrincipal('stripe-webhook');

export type StripeEventOutcome =
  /** The event changed (or confirmed) billing state. */
  | 'processed'
  /** A type we do not act on, or an object that is not one of our invoices' payments. */
  | 'ignored'
  /** This event id was processed before: nothing was done again. */
  | 'duplicate';

/**
 * One verified Stripe event, processed once per event id. Processing comes first and the receipt
 * after it, so an event whose processing failed (a 500: Stripe redelivers) is not marked seen; every
 * effect is itself idempotent (payments keyed by PaymentIntent id, declines by attempt), so two
 * concurrent deliveries of one event, or events arriving out of order, settle to the same state.
 */
export async function receiveStripeEvent(
  tableName: string,
  event: unknown,
  now: Date,
  /** The webhook delivery's request id, recorded on the audit entries the event leads to. */
  requestId: string | null = null,
): Promise<StripeEventOutcome> {
  if (!isWellFormed(event)) {
    // Signed, so it came from Stripe (or whoever holds the secret), but nothing can ever be done
    // with it: a 2xx stops Stripe redelivering it for days; the log keeps it for a look.
    logger.error('A signed Stripe event without id, type, created, livemode or data.object; ignored', {
      event,
    });
    return 'ignored';
  }
  const receipts = new StripeEventsRepository(tableName);
  if (await receipts.seen(event.id)) return 'duplicate';
  const outcome = await process(tableName, event, { principal: STRIPE_WEBHOOK, requestId, now });
  const object = event.data.object as { id?: unknown };
  await receipts.recordReceipt({
    event_id: event.id,
    type: event.type,
    object_id: typeof object.id === 'string' ? object.id : null,
    livemode: event.livemode,
    stripe_created: event.created,
    received_at: now.toISOString(),
    outcome,
  });
  return outcome;
}

async function process(tableName: string, event: Stripe.Event, caller: Caller): Promise<StripeEventOutcome> {
  if (PAYMENT_METHOD_EVENTS.has(event.type)) return applyPaymentMethodEvent(tableName, event, caller);
  if (REFUND_EVENTS.has(event.type)) return applyRefundEvent(tableName, event, caller);
  if (event.type !== 'payment_intent.succeeded' && event.type !== 'payment_intent.payment_failed') {
    return 'ignored';
  }
  const intent = event.data.object;
  const invoiceId = intent.metadata?.billing_invoice_id;
  const invoice = invoiceId ? await new InvoicesRepository(tableName).get(invoiceId) : undefined;
  if (!invoice) {
    logger.warn('A Stripe PaymentIntent event names no invoice of ours; ignored', {
      event_id: event.id,
      payment_intent_id: intent.id,
      billing_invoice_id: invoiceId,
    });
    return 'ignored';
  }

  if (event.type === 'payment_intent.payment_failed') {
    const error = intent.last_payment_error;
    await recordPaymentFailure(
      tableName,
      invoice.id,
      {
        payment_intent_id: intent.id,
        attempt: attemptOf(intent),
        code: error?.decline_code ?? error?.code ?? 'payment_failed',
        failed_at: new Date(event.created * 1000).toISOString(),
      },
      caller,
    );
    return 'processed';
  }

  await recordStripeCharge(
    tableName,
    invoice,
    {
      paymentIntentId: intent.id,
      amount: intent.amount_received,
      currency: intent.currency,
      receivedAt: new Date(event.created * 1000).toISOString(),
    },
    caller,
  );
  return 'processed';
}

function isWellFormed(event: unknown): event is Stripe.Event {
  if (typeof event !== 'object' || event === null || Array.isArray(event)) return false;
  const { id, type, data, created, livemode } = event as {
    id?: unknown;
    type?: unknown;
    data?: { object?: unknown };
    created?: unknown;
    livemode?: unknown;
  };
  const object = typeof data === 'object' && data !== null ? data.object : undefined;
  return (
    typeof id === 'string' &&
    id.length > 0 &&
    typeof type === 'string' &&
    // When the event happened (seconds): the moment a payment or decline is recorded at. Found from
    // outside: an event without it answered 500 (an invalid date), so Stripe redelivered it for days.
    Number.isSafeInteger(created) &&
    (created as number) > 0 &&
    (created as number) < 1e11 &&
    typeof livemode === 'boolean' &&
    typeof object === 'object' &&
    object !== null &&
    !Array.isArray(object)
  );
}

/** The attempt a PaymentIntent was created for (metadata set by the gateway); 0 when unknown. */
function attemptOf(intent: Stripe.PaymentIntent): number {
  const attempt = Number(intent.metadata?.billing_attempt);
  return Number.isSafeInteger(attempt) && attempt > 0 ? attempt : 0;
}

/** Events that carry a refund's outcome: a Refund object, or a Charge listing its refunds. */
const REFUND_EVENTS = new Set([
  'refund.created',
  'refund.updated',
  'refund.failed',
  'charge.refund.updated',
  'charge.refunded',
]);

/**
 * Each of our refunds the event carries (found by the metadata the gateway set), recorded by
 * applyRefundState: once per change of status, in any order. A refund made in the Dashboard has no
 * metadata of ours: it is logged, and recorded with `refunded_out_of_band` by whoever made it.
 */
async function applyRefundEvent(
  tableName: string,
  event: Stripe.Event,
  caller: Caller,
): Promise<StripeEventOutcome> {
  const object = event.data.object as Partial<Stripe.Refund> & Partial<Pick<Stripe.Charge, 'refunds'>>;
  const carried: Partial<Stripe.Refund>[] =
    event.type === 'charge.refunded' ? (object.refunds?.data ?? []) : [object];
  let ours = 0;
  for (const refund of carried) {
    const invoiceId = refund.metadata?.billing_invoice_id;
    const refundId = refund.metadata?.billing_refund_id;
    if (!invoiceId || !refundId || typeof refund.id !== 'string') continue;
    const applied = await applyRefundState(
      tableName,
      invoiceId,
      refundId,
      stripeRefundState({
        id: refund.id,
        status: refund.status ?? null,
        failure_reason: refund.failure_reason,
      }),
      caller,
    );
    if (applied) ours++;
  }
  if (ours === 0) {
    logger.warn('A Stripe refund event names no refund of ours (one made in the Dashboard?); ignored', {
      event_id: event.id,
      type: event.type,
    });
    return 'ignored';
  }
  return 'processed';
}
