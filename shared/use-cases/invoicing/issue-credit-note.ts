import { randomUUID } from 'node:crypto';
import { isDiscountable } from '../../domain/coupons.ts';
import { type CreditNote, type CreditNoteRequest, creditNoteOf } from '../../domain/credit-note.ts';
import { validationError } from '../../domain/errors.ts';
import type { Invoice } from '../../domain/invoice.ts';
import { type Caller, requireOperator } from '../../domain/principal.ts';
import { logger } from '../../logger.ts';
import { auditBy } from '../../store/audit.ts';
import { CreditNotesRepository } from '../../store/credit-notes-repository.ts';
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
import { reconcileStanding } from './dunning.ts';
import { invoiceFor } from './invoices.ts';
import { sendRefund } from './refund-outcomes.ts';
import { newRefund, payingPayment, refundRefusal } from './refunds.ts';

/** `<prefix>-CN-0001`: the customer's invoice prefix, its own gapless series. */
export const creditNoteNumber = (prefix: string, sequence: number): string =>
  `${prefix}-CN-${String(sequence).padStart(4, '0')}`;

/**
 * Issues a credit note against a finalized invoice (operators only): the note, numbered next in the
 * customer's series; the invoice with its lines' credits and its amount due lowered (paid, when
 * nothing is left due); the customer's credit balance raised by what goes there; their audit entries
 * and the idempotency record: one transaction, so a retry or a concurrent note can never credit a
 * line twice or skip a number.
 */
export async function issueCreditNote(
  tableName: string,
  invoiceId: string,
  request: CreditNoteRequest,
  caller: Caller,
  idempotency: Idempotency = undefined,
): Promise<CreditNote> {
  requireOperator(caller.principal, 'issue credit notes');
  const notes = new CreditNotesRepository(tableName);
  const invoices = new InvoicesRepository(tableName);
  const customers = new CustomersRepository(tableName);
  const refunds = new RefundsRepository(tableName);
  const issued = await retryOnLostRace(
    5,
    async () => {
      const current = await invoiceFor(tableName, invoiceId, caller.principal);
      const { figures, invoice: credited } = creditNoteOf(current, request, (line) =>
        isDiscountable(line, current),
      );
      const [last, prefix, balance, payments] = await Promise.all([
        notes.lastNumber(current.customer_id),
        customers.ensureInvoicePrefix(current.customer_id, (before, after) =>
          auditBy(caller, 'customer', current.customer_id, 'customer.invoice_prefix_assigned', before, after),
        ),
        figures.credit_amount > 0
          ? customers.creditBalance(current.customer_id, current.currency)
          : undefined,
        figures.refund_amount > 0 ? invoices.paymentsOf(current.id) : Promise.resolve([]),
      ]);
      const refund =
        figures.refund_amount > 0
          ? await refundFor(current, payments, figures.refund_amount, caller)
          : undefined;
      const at = caller.now.toISOString();
      const sequence = last + 1;
      const note: CreditNote = {
        id: `cn_${randomUUID().replaceAll('-', '')}`,
        number: creditNoteNumber(prefix, sequence),
        invoice_id: current.id,
        invoice_number: current.number ?? current.id,
        customer_id: current.customer_id,
        currency: current.currency,
        reason: request.reason,
        memo: request.memo ?? null,
        ...figures,
        refund_id: null,
        created_at: at,
        version: 1,
      };
      // An open (or uncollectible) invoice left with nothing due is paid, as Stripe does.
      const settles = current.status !== 'paid' && credited.amount_due === 0;
      const next: Invoice = {
        ...credited,
        ...(settles
          ? { status: 'paid' as const, paid_at: at, last_payment_error: null, pending_payment: null }
          : {}),
        updated_at: at,
        version: current.version + 1,
      };
      const invoiceAudit = auditBy(
        caller,
        'invoice',
        current.id,
        settles ? 'invoice.paid' : 'invoice.credited',
        current,
        next,
      );
      if (refund) {
        note.refund_id = refund.refund.id;
        refund.refund.credit_note_id = note.id;
      }
      const items: TransactItem[] = [
        ...invoices.transitionItems(next, current.version, invoiceAudit),
        ...(refund
          ? [
              ...refunds.createItems(
                refund.refund,
                auditBy(caller, 'invoice', current.id, 'refund.created', null, refund.refund),
              ),
              refunds.paymentRefunded(
                refund.payment,
                (refund.payment.amount_refunded ?? 0) + refund.refund.amount,
              ),
            ]
          : []),
        ...notes.issueItems(
          note,
          sequence,
          auditBy(caller, 'credit_note', note.id, 'credit_note.issued', null, note),
        ),
      ];
      if (settles) {
        const record: PaymentRecord = {
          id: `credit_note_${note.id}`,
          invoice_id: current.id,
          customer_id: current.customer_id,
          amount: 0,
          currency: current.currency,
          method: 'none',
          stripe_payment_intent_id: null,
          received_at: at,
          applied: true,
          unapplied_reason: null,
        };
        items.push(
          ...invoices.paymentItems(
            current.id,
            record,
            auditBy(caller, 'payment', record.id, 'payment.recorded', null, record),
          ),
        );
      }
      if (figures.credit_amount > 0) {
        const after = (balance?.amount ?? 0) + figures.credit_amount;
        items.push(
          ...creditBalanceMove(tableName, caller, current.customer_id, current.currency, balance, after, {
            credit_note_id: note.id,
          }),
        );
      }
      const outcome = await transactWithAnswer(items, idempotencyItems(tableName, idempotency, note));
      if (outcome === 'idempotency-key-taken') throw new IdempotencyKeyTaken();
      if (outcome === 'lost-race') return LOST_RACE;
      return { note, paid: settles ? next : undefined, refund: refund?.refund };
    },
    () => {
      throw changingConcurrently(`Invoice ${invoiceId}`);
    },
  );
  // A subscription past due because of this invoice is active again (the scheduled job re-checks too).
  const subscriptionId = issued.paid?.subscription_id;
  if (subscriptionId)
    await reconcileStanding(tableName, subscriptionId, caller).catch((error: unknown) =>
      logger.warn('Could not re-check the subscription after a credit note paid its invoice', {
        subscription_id: subscriptionId,
        error,
      }),
    );
  // The refund is recorded with the note; Stripe is asked now (and hourly again until it answers).
  if (issued.refund) await sendRefund(tableName, issued.refund, caller);
  return issued.note;
}

/** The refund a note's `refund_amount` makes on the invoice's payment; refused naming post_payment_to. */
async function refundFor(invoice: Invoice, payments: PaymentRecord[], amount: number, caller: Caller) {
  const payment = payingPayment(payments);
  if (!payment || payment.method === 'none')
    throw validationError([
      {
        field: 'post_payment_to',
        message: `invoice ${invoice.id} was paid by no payment that can be refunded: send the rest to the credit balance`,
      },
    ]);
  const refusal = await refundRefusal(payment, amount, false, 'post_payment_to');
  if (refusal)
    throw validationError([
      {
        field: 'post_payment_to',
        message: refusal.message.replace('"refunded_out_of_band": true', '"post_payment_to": "out_of_band"'),
      },
    ]);
  const refund = newRefund(invoice, payment, amount, 'credit_balance', false, caller.now.toISOString());
  return { refund, payment };
}
