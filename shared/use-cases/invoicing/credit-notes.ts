import type { CreditNote } from '../../domain/credit-note.ts';
import { notFound } from '../../domain/errors.ts';
import { canAccessCustomer, type Principal } from '../../domain/principal.ts';
import { CreditNotesRepository } from '../../store/credit-notes-repository.ts';
import { invoiceFor } from './invoices.ts';

/** The credit note if the caller may see it (its customer's tenant, or an operator); else 404. */
export async function getCreditNote(
  tableName: string,
  creditNoteId: string,
  principal: Principal,
): Promise<CreditNote> {
  const note = await new CreditNotesRepository(tableName).get(creditNoteId);
  if (!note || !canAccessCustomer(principal, note.customer_id)) throw notFound('Credit note', creditNoteId);
  return note;
}

/** An invoice's credit notes, oldest first; the invoice must be one the caller may see. */
export async function listCreditNotes(
  tableName: string,
  invoiceId: string,
  principal: Principal,
): Promise<{ data: CreditNote[] }> {
  await invoiceFor(tableName, invoiceId, principal);
  return { data: await new CreditNotesRepository(tableName).ofInvoice(invoiceId) };
}
