import { randomUUID } from 'node:crypto';
import { validationError } from '../../domain/errors.ts';
import type { Invoice } from '../../domain/invoice.ts';
import { type Caller, type Principal, requireOperator } from '../../domain/principal.ts';
import type { Refund, RefundSource } from '../../domain/refund.ts';
import { stripeGateway } from '../../payments/stripe-gateway.ts';
import { auditBy } from '../../store/audit.ts';
import { CustomersRepository, creditBalanceMove } from '../../store/customers-repository.ts';
import {
  type Idempotency,
  IdempotencyKeyTaken,
  idempotencyItems,
  transactWithAnswer,
} from '../../store/idempotency.ts';
import { InvoicesRepository, type PaymentRecord } from '../../store/invoices-repository.ts';
import { RefundsRepository } from '../../store/refunds-repository.ts';
import type { TransactItem } from '../../store/transact.ts';
import { changingConcurrently, LOST_RACE, retryOnLostRace } from '../optimistic.ts';
import { invoiceFor } from './invoices.ts';
import { sendRefund } from './refund-outcomes.ts';

export type RefundRequest = {
  payment_id?: string | undefined;
  amount?: number | undefined;
  refunded_out_of_band?: boolean | undefined;
};

/** The payment that paid the invoice (one collected, or received elsewhere); undefined if none did. */
export const payingPayment = (payments: readonly PaymentRecord[]): PaymentRecord | undefined =>
  payments.find((payment) => payment.applied && payment.method !== 'none');

/** A new refund of `amount` on `payment`, through Stripe unless it was made elsewhere. */
export function newRefund(
  invoice: Invoice,
  payment: PaymentRecord,
  amount: number,
  source: RefundSource,
  outOfBand: boolean,
  at: string,
  creditNoteId: string | null = null,
): Refund {
  return {
    // Time first, so an invoice's refunds list oldest first.
    id: `rf_${Date.parse(at).toString(36)}${randomUUID().replaceAll('-', '').slice(0, 16)}`,
    invoice_id: invoice.id,
    customer_id: invoice.customer_id,
    payment_id: payment.id,
    credit_note_id: creditNoteId,
    source,
    amount,
    // The payment's own: an unapplied payment may be in another currency than its invoice.
    currency: payment.currency,
    method: outOfBand ? 'out_of_band' : 'stripe',
    status: outOfBand ? 'succeeded' : 'pending',
    stripe_refund_id: null,
    sent: outOfBand,
    failure_reason: null,
    created_at: at,
    updated_at: at,
    version: 1,
  };
}

/**
 * Why `payment` cannot be refunded `amount`, naming the field to fix, or undefined when it can.
 * Stripe refunds only what it collected; offline, only a refund made elsewhere can be recorded.
 */
export async function refundRefusal(
  payment: PaymentRecord,
  amount: number,
  outOfBand: boolean,
  field = 'amount',
): Promise<{ field: string; message: string } | undefined> {
  const left = payment.amount - (payment.amount_refunded ?? 0);
  if (amount > left)
    return {
      field,
      message: `payment ${payment.id} has ${left} ${payment.currency} left to refund (it was ${payment.amount}; ${payment.amount_refunded ?? 0} refunded)`,
    };
  if (outOfBand) return undefined;
  if (payment.method !== 'stripe')
    return {
      field: 'refunded_out_of_band',
      message: `payment ${payment.id} was received outside Stripe: refund it there and record it with "refunded_out_of_band": true`,
    };
  if (!(await stripeGateway()))
    return {
      field: 'refunded_out_of_band',
      message:
        'Stripe is not configured here: refund the payment elsewhere and record it with "refunded_out_of_band": true',
    };
  return undefined;
}

/**
 * POST /invoices/{id}/refunds (operators only): money back on one payment of the invoice. The
 * invoice's own payment gives back what the customer is owed, drawn on its credit balance (a credit
 * note put it there; `post_payment_to: "refund"` on the note does both at once); an unapplied payment
 * (one that settled nothing) gives back its own money. Recorded in one transaction with what it
 * draws on, then sent to Stripe.
 */
export async function createRefund(
  tableName: string,
  invoiceId: string,
  request: RefundRequest,
  caller: Caller,
  idempotency: Idempotency = undefined,
): Promise<Refund> {
  requireOperator(caller.principal, 'refund payments');
  const invoices = new InvoicesRepository(tableName);
  const refunds = new RefundsRepository(tableName);
  const customers = new CustomersRepository(tableName);
  const outOfBand = request.refunded_out_of_band === true;
  const recorded = await retryOnLostRace(
    5,
    async () => {
      const invoice = await invoiceFor(tableName, invoiceId, caller.principal);
      const payments = await invoices.paymentsOf(invoiceId);
      const payment = request.payment_id
        ? payments.find((candidate) => candidate.id === request.payment_id)
        : payingPayment(payments);
      if (!payment)
        throw validationError([
          {
            field: 'payment_id',
            message: request.payment_id
              ? `invoice ${invoiceId} has no payment ${request.payment_id}`
              : `invoice ${invoiceId} has not been paid: name an unapplied payment of it`,
          },
        ]);
      if (payment.method === 'none' || payment.amount === 0)
        throw validationError([{ field: 'payment_id', message: `payment ${payment.id} collected nothing` }]);
      const source: RefundSource = payment.applied ? 'credit_balance' : 'unapplied_payment';
      const balance =
        source === 'credit_balance'
          ? await customers.creditBalance(invoice.customer_id, invoice.currency)
          : undefined;
      const owed = balance?.amount ?? 0;
      const left = payment.amount - (payment.amount_refunded ?? 0);
      const amount = request.amount ?? (source === 'credit_balance' ? Math.min(left, owed) : left);
      if (amount <= 0)
        throw validationError([
          {
            field: 'amount',
            message:
              source === 'credit_balance'
                ? `nothing to refund: the customer is owed ${owed} ${invoice.currency} (issue a credit note to give back part of the invoice first)`
                : `payment ${payment.id} has nothing left to refund`,
          },
        ]);
      if (source === 'credit_balance' && amount > owed)
        throw validationError([
          {
            field: 'amount',
            message: `the customer is owed ${owed} ${invoice.currency}: a refund of the invoice's payment gives back credit, so issue a credit note first (post_payment_to "refund" does both)`,
          },
        ]);
      const refusal = await refundRefusal(payment, amount, outOfBand);
      if (refusal) throw validationError([refusal]);
      const at = caller.now.toISOString();
      const refund = newRefund(invoice, payment, amount, source, outOfBand, at);
      const items: TransactItem[] = [
        ...refunds.createItems(
          refund,
          auditBy(caller, 'invoice', invoice.id, 'refund.created', null, refund),
        ),
        refunds.paymentRefunded(payment, (payment.amount_refunded ?? 0) + amount),
      ];
      if (source === 'credit_balance')
        items.push(
          ...creditBalanceMove(
            tableName,
            caller,
            invoice.customer_id,
            invoice.currency,
            balance,
            owed - amount,
            { refund_id: refund.id },
          ),
        );
      const outcome = await transactWithAnswer(items, idempotencyItems(tableName, idempotency, refund));
      if (outcome === 'idempotency-key-taken') throw new IdempotencyKeyTaken();
      return outcome === 'written' ? refund : LOST_RACE;
    },
    () => {
      throw changingConcurrently(`Invoice ${invoiceId}`);
    },
  );
  return recorded.sent ? recorded : sendRefund(tableName, recorded, caller);
}

/** An invoice's refunds, oldest first (the invoice must be one the caller may see). */
export async function listRefunds(
  tableName: string,
  invoiceId: string,
  principal: Principal,
): Promise<{ data: Refund[] }> {
  await invoiceFor(tableName, invoiceId, principal);
  return { data: await new RefundsRepository(tableName).ofInvoice(invoiceId) };
}
