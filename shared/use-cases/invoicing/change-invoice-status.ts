import { DomainError } from '../../domain/errors.ts';
import { type Invoice, nextInvoiceStatus } from '../../domain/invoice.ts';
import { type Caller, requireOperator } from '../../domain/principal.ts';
import { auditBy } from '../../store/audit.ts';
import { InvoicesRepository } from '../../store/invoices-repository.ts';
import { invoiceFor } from './invoices.ts';

/** void and mark_uncollectible: a status change with its audit entry, nothing else. */
export async function changeInvoiceStatus(
  tableName: string,
  invoiceId: string,
  action: 'void' | 'mark_uncollectible',
  caller: Caller,
): Promise<Invoice> {
  requireOperator(caller.principal, `${action.replace('_', ' ')} invoices`);
  const current = await invoiceFor(tableName, invoiceId, caller.principal);
  const status = nextInvoiceStatus(current.status, action);
  const at = caller.now.toISOString();
  const next: Invoice = {
    ...current,
    status,
    ...(action === 'void' ? { voided_at: at } : { marked_uncollectible_at: at }),
    updated_at: at,
    version: current.version + 1,
  };
  const done = await new InvoicesRepository(tableName).transition(
    next,
    current.version,
    auditBy(caller, 'invoice', invoiceId, `invoice.${status}`, current, next),
  );
  if (!done)
    throw new DomainError('version-conflict', `Invoice ${invoiceId} changed meanwhile; GET it and retry`);
  return next;
}
