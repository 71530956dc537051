import { notFound } from '../../domain/errors.ts';
import { type Invoice, type PaymentFailure, withPaymentFailure } from '../../domain/invoice.ts';
import type { Caller } from '../../domain/principal.ts';
import { logger } from '../../logger.ts';
import { auditBy } from '../../store/audit.ts';
import { keepAnswer } from '../../store/idempotency.ts';
import { InvoicesRepository, type PaymentRecord } from '../../store/invoices-repository.ts';
import type { TransactItem } from '../../store/transact.ts';
import { changingConcurrently, LOST_RACE, retryOnLostRace } from '../optimistic.ts';
import { reconcileStanding } from './dunning.ts';

export type IncomingPayment = Pick<
  PaymentRecord,
  'id' | 'method' | 'stripe_payment_intent_id' | 'received_at'
>;

export type PaymentOutcome =
  /** The payment was recorded and the invoice is now paid. */
  | 'recorded'
  /** This payment (same id) was recorded before: nothing changed. */
  | 'duplicate'
  /** The invoice cannot take it: already paid by another payment, void, or still a draft. */
  | 'not-payable';

/**
 * Records a payment and marks the invoice paid, once: the payment item is keyed by its id (the
 * Stripe PaymentIntent id, or one derived from the invoice for out-of-band payments), so a
 * replayed webhook or a retried call finds it already there and changes nothing. Whether the
 * invoice can take the payment is decided on a fresh read, inside the retry loop, so a payment that
 * lost a race to another one comes back as `not-payable` (for the caller to keep as unapplied)
 * instead of vanishing. A subscription that was past due because of this invoice is active again.
 */
export async function recordPayment(
  tableName: string,
  invoiceId: string,
  payment: IncomingPayment,
  caller: Caller,
  /** Items written with the payment that answer for the paid invoice (an idempotency record). */
  answer: (paid: Invoice) => TransactItem[] = () => [],
): Promise<{ invoice: Invoice; outcome: PaymentOutcome }> {
  const repository = new InvoicesRepository(tableName);
  return retryOnLostRace(
    5,
    async () => {
      const current = await repository.get(invoiceId);
      if (!current) throw notFound('Invoice', invoiceId);
      if (await repository.getPayment(invoiceId, payment.id)) {
        // Read again: the payment may have landed between the two reads (found by parallel pays
        // with one Idempotency-Key, which answered with the invoice still open).
        const invoice = (await repository.get(invoiceId)) ?? current;
        // Nothing is written (the webhook, or a twin request, recorded it), so the answer is kept
        // on its own: a retry with the same key then replays it instead of a 409.
        await keepAnswer(answer(invoice));
        return { invoice, outcome: 'duplicate' as const };
      }
      if (current.status !== 'open' && current.status !== 'uncollectible') {
        return { invoice: current, outcome: 'not-payable' as const };
      }
      const at = caller.now.toISOString();
      const record: PaymentRecord = {
        ...payment,
        invoice_id: invoiceId,
        customer_id: current.customer_id,
        amount: current.amount_due,
        currency: current.currency,
        applied: true,
        unapplied_reason: null,
      };
      const paid: Invoice = {
        ...current,
        status: 'paid',
        amount_paid: current.amount_due,
        paid_at: at,
        // The payment that paid it (null when paid outside Stripe); earlier tries stay in the audit trail.
        stripe_payment_intent_id: payment.stripe_payment_intent_id,
        last_payment_error: null,
        pending_payment: null,
        updated_at: at,
        version: current.version + 1,
      };
      const done = await repository.markPaid(
        paid,
        current.version,
        record,
        auditBy(caller, 'invoice', invoiceId, 'invoice.paid', current, paid),
        auditBy(caller, 'payment', payment.id, 'payment.recorded', null, record),
        answer(paid),
      );
      if (!done) return LOST_RACE;
      // The scheduled job re-checks standing too, so a failure here only delays the change.
      // A one-off invoice has no subscription whose standing it could change.
      const subscriptionId = paid.subscription_id;
      if (subscriptionId !== null)
        await reconcileStanding(tableName, subscriptionId, caller).catch((error: unknown) =>
          logger.warn('Could not re-check the subscription after a payment', {
            subscription_id: subscriptionId,
            error,
          }),
        );
      return { invoice: paid, outcome: 'recorded' as const };
    },
    () => {
      throw changingConcurrently(`Invoice ${invoiceId}`);
    },
  );
}

/**
 * Money that arrived for an invoice but cannot settle it (paid otherwise, voided, a different
 * amount): recorded once as an unapplied payment with its audit entry, for finance to refund or
 * apply; the invoice is left as it is.
 */
export async function recordUnappliedPayment(
  tableName: string,
  invoice: Invoice,
  payment: IncomingPayment & { amount: number; currency: string },
  reason: string,
  caller: Caller,
): Promise<boolean> {
  const record: PaymentRecord = {
    ...payment,
    invoice_id: invoice.id,
    customer_id: invoice.customer_id,
    applied: false,
    unapplied_reason: reason,
  };
  logger.error('A payment arrived that cannot settle its invoice; recorded as unapplied', {
    invoice_id: invoice.id,
    payment_id: payment.id,
    reason,
  });
  return new InvoicesRepository(tableName).recordUnappliedPayment(
    record,
    auditBy(caller, 'payment', payment.id, 'payment.unapplied', null, record),
  );
}

/**
 * A Stripe charge that succeeded: it pays the invoice, or, if the invoice cannot take it any more
 * (paid by another payment or voided meanwhile), it is kept as an unapplied payment. Used by the pay
 * route and the webhook, so whichever learns of the charge first records it, and the other finds it.
 */
export async function recordStripeCharge(
  tableName: string,
  /** As the caller read it: its amount due and currency are frozen once finalized. */
  invoice: Invoice,
  charge: { paymentIntentId: string; amount: number; currency: string; receivedAt: string },
  caller: Caller,
  answer: (paid: Invoice) => TransactItem[] = () => [],
): Promise<{ invoice: Invoice; outcome: PaymentOutcome }> {
  const payment: IncomingPayment = {
    id: charge.paymentIntentId,
    method: 'stripe',
    stripe_payment_intent_id: charge.paymentIntentId,
    received_at: charge.receivedAt,
  };
  const sameMoney =
    charge.amount === invoice.amount_due && charge.currency.toUpperCase() === invoice.currency;
  const result = sameMoney
    ? await recordPayment(tableName, invoice.id, payment, caller, answer)
    : { invoice, outcome: 'not-payable' as const };
  if (result.outcome === 'not-payable') {
    const reason = sameMoney
      ? `The invoice was already ${result.invoice.status} when Stripe collected this payment`
      : `Stripe collected ${charge.amount} ${charge.currency.toUpperCase()} but the invoice is due ${invoice.amount_due} ${invoice.currency}`;
    await recordUnappliedPayment(
      tableName,
      result.invoice,
      { ...payment, amount: charge.amount, currency: charge.currency.toUpperCase() },
      reason,
      caller,
    );
  }
  return result;
}

/** Records a declined attempt on the invoice (idempotent, order-tolerant: see withPaymentFailure). */
export async function recordPaymentFailure(
  tableName: string,
  invoiceId: string,
  failure: PaymentFailure,
  caller: Caller,
): Promise<Invoice | undefined> {
  const repository = new InvoicesRepository(tableName);
  return retryOnLostRace(
    5,
    async () => {
      const current = await repository.get(invoiceId);
      if (!current) throw notFound('Invoice', invoiceId);
      const next = withPaymentFailure(current, failure, caller.now);
      if (!next) return undefined;
      const done = await repository.transition(
        next,
        current.version,
        auditBy(caller, 'invoice', invoiceId, 'invoice.payment_failed', current, next),
      );
      return done ? next : LOST_RACE;
    },
    () => {
      throw changingConcurrently(`Invoice ${invoiceId}`);
    },
  );
}
