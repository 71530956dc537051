import { DomainError, notFound } from '../../domain/errors.ts';
import { type Caller, requireOperator } from '../../domain/principal.ts';
import { auditBy } from '../../store/audit.ts';
import { InvoiceItemsRepository } from '../../store/invoice-items-repository.ts';

/**
 * Deletes a one-time invoice item that no invoice has taken yet (Stripe's `DELETE /invoiceitems/{id}`),
 * with an audit entry in its subscription's trail. Prorations are not deleted by hand: they are what
 * a plan change owes.
 */
export async function deleteInvoiceItem(
  tableName: string,
  itemId: string,
  caller: Caller,
): Promise<{ id: string; deleted: true }> {
  requireOperator(caller.principal, 'delete invoice items');
  const repository = new InvoiceItemsRepository(tableName);
  const item = await repository.get(itemId);
  if (!item) throw notFound('Invoice item', itemId);
  const taken = (invoiceId: string) =>
    new DomainError(
      'invalid-state-transition',
      `Invoice item ${itemId} is already on invoice ${invoiceId}; void that invoice instead`,
    );
  if (item.invoice_id !== null) throw taken(item.invoice_id);
  if (item.kind !== 'one_time') {
    throw new DomainError(
      'invalid-state-transition',
      `Invoice item ${itemId} is a proration; it cannot be deleted`,
    );
  }
  const done = await repository.delete(
    item,
    auditBy(caller, 'pending_item', item.id, 'invoice_item.deleted', item, null),
  );
  if (done) return { id: itemId, deleted: true };
  // An invoice took it meanwhile, or a concurrent delete got there first.
  const now = await repository.get(itemId);
  if (now?.invoice_id) throw taken(now.invoice_id);
  throw notFound('Invoice item', itemId);
}
