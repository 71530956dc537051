import { DomainError } from '../../domain/errors.ts';
import { type Invoice, nextInvoiceStatus } from '../../domain/invoice.ts';
import { type Caller, requireOperator } from '../../domain/principal.ts';
import { auditBy } from '../../store/audit.ts';
import { CustomersRepository, creditBalanceMove } from '../../store/customers-repository.ts';
import { type Idempotency, idempotencyItems } from '../../store/idempotency.ts';
import { InvoicesRepository } from '../../store/invoices-repository.ts';
import { ThresholdInvoicesRepository } from '../../store/threshold-invoices-repository.ts';
import type { TransactItem } from '../../store/transact.ts';
import { invoiceFor } from './invoices.ts';

/**
 * void and mark_uncollectible: a status change with its audit entry. Voiding a finalized invoice also
 * undoes what it did to the customer's credit balance: the credit it applied comes back, the credit
 * its negative total granted goes (refused while that credit is already used by later invoices).
 */
export async function changeInvoiceStatus(
  tableName: string,
  invoiceId: string,
  action: 'void' | 'mark_uncollectible',
  caller: Caller,
  idempotency: Idempotency = undefined,
): Promise<Invoice> {
  requireOperator(caller.principal, `${action.replace('_', ' ')} invoices`);
  const current = await invoiceFor(tableName, invoiceId, caller.principal);
  const status = nextInvoiceStatus(current.status, action);
  // What a credit note gave back (to the credit balance, or off what was due) would stand on a void
  // invoice: the corrections stay, and what is left is credited instead.
  if (action === 'void' && current.credit_note_count > 0)
    throw new DomainError(
      'conflict',
      `Invoice ${invoiceId} has credit notes; issue a credit note for what is left instead of voiding it`,
    );
  const at = caller.now.toISOString();
  const next: Invoice = {
    ...current,
    status,
    ...(action === 'void' ? { voided_at: at } : { marked_uncollectible_at: at }),
    updated_at: at,
    version: current.version + 1,
  };
  // A threshold invoice credited by its period's finalized invoice cannot be voided: that usage would
  // then be billed nowhere. Checked in the transaction too, against a finalization under way.
  const creditedBy =
    action === 'void' && current.billing_reason === 'subscription_threshold' && current.subscription_id
      ? { subscriptionId: current.subscription_id, periodStart: current.period_start }
      : undefined;
  const thresholds = new ThresholdInvoicesRepository(tableName);
  const refuseCredited = async () => {
    if (!creditedBy) return;
    const closing = await thresholds.closedBy(creditedBy.subscriptionId, creditedBy.periodStart);
    if (closing)
      throw new DomainError(
        'conflict',
        `Invoice ${invoiceId} billed usage that invoice ${closing} has credited since its period closed; voiding it would leave that usage billed nowhere (issue a credit note to correct it)`,
      );
  };
  await refuseCredited();
  const creditBack = action === 'void' ? current.credit_applied - current.credited_to_balance : 0;
  let balanceChange: TransactItem[] = [];
  if (creditBack !== 0) {
    const balance = await new CustomersRepository(tableName).creditBalance(
      current.customer_id,
      current.currency,
    );
    const after = (balance?.amount ?? 0) + creditBack;
    if (after < 0) {
      throw new DomainError(
        'conflict',
        `Invoice ${invoiceId} left ${current.credited_to_balance} ${current.currency} of credit that later invoices have used; void those first`,
      );
    }
    balanceChange = creditBalanceMove(
      tableName,
      caller,
      current.customer_id,
      current.currency,
      balance,
      after,
      { invoice_id: invoiceId },
    );
  }
  const done = await new InvoicesRepository(tableName).transition(
    next,
    current.version,
    auditBy(caller, 'invoice', invoiceId, `invoice.${status}`, current, next),
    [
      ...balanceChange,
      ...(creditedBy ? [thresholds.periodStillOpen(creditedBy.subscriptionId, creditedBy.periodStart)] : []),
      ...idempotencyItems(tableName, idempotency, next),
    ],
  );
  if (!done) await refuseCredited();
  if (!done)
    throw new DomainError('version-conflict', `Invoice ${invoiceId} changed meanwhile; GET it and retry`);
  return next;
}
