import type { Caller } from '../../domain/principal.ts';
import { givesMoneyBack, type Refund, refundAfter, type StripeRefundState } from '../../domain/refund.ts';
import { logger } from '../../logger.ts';
import { type StripeGateway, StripeUnavailable, stripeGateway } from '../../payments/stripe-gateway.ts';
import { auditBy } from '../../store/audit.ts';
import { CustomersRepository, creditBalanceMove } from '../../store/customers-repository.ts';
import { InvoicesRepository } from '../../store/invoices-repository.ts';
import { RefundsRepository } from '../../store/refunds-repository.ts';
import type { TransactItem } from '../../store/transact.ts';
import { changingConcurrently, LOST_RACE, retryOnLostRace } from '../optimistic.ts';

/**
 * Sends a recorded refund to Stripe (idempotency key `refund:<id>`, so sending it again never
 * refunds twice) and records what Stripe answered. When Stripe does not answer, the refund stays
 * pending and unsent: the hourly job sends it again (resendUnsentRefunds).
 */
export async function sendRefund(
  tableName: string,
  refund: Refund,
  caller: Caller,
  gateway?: StripeGateway,
): Promise<Refund> {
  const stripe = gateway ?? (await stripeGateway());
  if (!stripe) return refund;
  try {
    const state = await stripe.refundPayment({
      refundId: refund.id,
      invoiceId: refund.invoice_id,
      paymentIntentId: refund.payment_id,
      amount: refund.amount,
    });
    return (await applyRefundState(tableName, refund.invoice_id, refund.id, state, caller)) ?? refund;
  } catch (error) {
    if (!(error instanceof StripeUnavailable)) throw error;
    if (!error.retryable) {
      // Refused outright (more than is left on the charge, a disputed charge, a bad key): no refund
      // was made, so the refund fails now and gives its money back, instead of waiting for ever.
      const reason = error.cause instanceof Error ? error.cause.message : error.message;
      logger.error('Stripe refused a refund; it is recorded as failed and its money given back', {
        refund_id: refund.id,
        invoice_id: refund.invoice_id,
        error,
      });
      const failed = {
        stripeRefundId: null,
        status: 'failed',
        failureReason: `Stripe refused it: ${reason}`,
      };
      return (await applyRefundState(tableName, refund.invoice_id, refund.id, failed, caller)) ?? refund;
    }
    logger.warn('Stripe did not accept a refund; it stays pending and is sent again within the hour', {
      refund_id: refund.id,
      invoice_id: refund.invoice_id,
      error,
    });
    return refund;
  }
}

/**
 * What Stripe says of one of our refunds (its answer, or a webhook, in any order, any number of
 * times): recorded once per change of status. A refund that failed or was canceled gives its money
 * back: the payment can be refunded by as much again, and money drawn on the customer's credit is
 * the customer's credit again. Undefined when the refund is not ours (not found).
 */
export async function applyRefundState(
  tableName: string,
  invoiceId: string,
  refundId: string,
  state: StripeRefundState,
  caller: Caller,
): Promise<Refund | undefined> {
  const refunds = new RefundsRepository(tableName);
  const invoices = new InvoicesRepository(tableName);
  const customers = new CustomersRepository(tableName);
  return retryOnLostRace(
    5,
    async () => {
      const current = await refunds.get(invoiceId, refundId);
      if (!current) return undefined;
      if (
        current.stripe_refund_id &&
        state.stripeRefundId &&
        current.stripe_refund_id !== state.stripeRefundId
      ) {
        // Two Stripe refunds for one of ours (a resend Stripe no longer knew the key of): a person
        // must look; neither moves the refund recorded.
        logger.error('A Stripe refund reports for one of ours that is another Stripe refund; ignored', {
          refund_id: current.id,
          recorded: current.stripe_refund_id,
          reported: state.stripeRefundId,
        });
        return current;
      }
      const at = caller.now.toISOString();
      const next = refundAfter(current, state, at);
      if (!next) return current;
      const extra: TransactItem[] = [];
      if (!current.sent) extra.push(refunds.sentItem(current));
      if (givesMoneyBack(current, next)) {
        const payment = await invoices.getPayment(current.invoice_id, current.payment_id);
        if (payment)
          extra.push(refunds.paymentRefunded(payment, (payment.amount_refunded ?? 0) - current.amount));
        if (current.source === 'credit_balance') {
          const balance = await customers.creditBalance(current.customer_id, current.currency);
          const after = (balance?.amount ?? 0) + current.amount;
          extra.push(
            ...creditBalanceMove(tableName, caller, current.customer_id, current.currency, balance, after, {
              refund_id: current.id,
            }),
          );
        }
      }
      const done = await refunds.update(
        next,
        current.version,
        auditBy(caller, 'invoice', current.invoice_id, `refund.${next.status}`, current, next),
        extra,
      );
      return done ? next : LOST_RACE;
    },
    () => {
      throw changingConcurrently(`Refund ${refundId}`);
    },
  );
}

/** How long after it was recorded an unsent refund is still sent again (Stripe keeps keys ~24 h). */
export const RESEND_WINDOW_MS = 23 * 60 * 60 * 1000;

/**
 * The hourly job's part: every refund Stripe has not accepted yet is sent again (the same idempotency
 * key, so one Stripe did receive is not refunded twice). One that fails to send waits for the next hour;
 * the others go on. Returns how many were sent.
 */
export async function resendUnsentRefunds(tableName: string, caller: Caller): Promise<number> {
  const gateway = await stripeGateway();
  if (!gateway) return 0;
  const refunds = new RefundsRepository(tableName);
  let sent = 0;
  for (const marker of await refunds.unsent()) {
    const refund = await refunds.get(marker.invoice_id, marker.refund_id);
    if (!refund) continue;
    // Stripe keeps an idempotency key about 24 hours: sent later, a refund Stripe did make (its
    // answer lost) would be made again. Past that, a person checks the Dashboard instead.
    if (caller.now.getTime() - Date.parse(refund.created_at) > RESEND_WINDOW_MS) {
      logger.error('A refund Stripe never answered for is past the idempotency window; not sent again', {
        refund_id: refund.id,
        invoice_id: refund.invoice_id,
        created_at: refund.created_at,
        look_for: `a Stripe refund with metadata billing_refund_id=${refund.id}`,
      });
      continue;
    }
    const after = await sendRefund(tableName, refund, caller, gateway).catch((error: unknown) => {
      logger.error('Could not send a refund again; the next run tries again', {
        refund_id: refund.id,
        error,
      });
      return refund;
    });
    if (after.sent) sent++;
  }
  return sent;
}
