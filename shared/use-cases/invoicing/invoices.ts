import { DomainError, notFound } from '../../domain/errors.ts';
import type { Invoice } from '../../domain/invoice.ts';
import { canAccessCustomer, type Principal } from '../../domain/principal.ts';
import { InvoicesRepository } from '../../store/invoices-repository.ts';
import type { Page } from '../../store/pagination.ts';

/** The invoice if the caller may see it; another tenant's invoice does not exist for them. */
export async function invoiceFor(
  tableName: string,
  invoiceId: string,
  principal: Principal,
): Promise<Invoice> {
  const invoice = await new InvoicesRepository(tableName).get(invoiceId);
  if (!invoice || !canAccessCustomer(principal, invoice.customer_id)) throw notFound('Invoice', invoiceId);
  return invoice;
}

export const getInvoice = (tableName: string, invoiceId: string, principal: Principal) =>
  invoiceFor(tableName, invoiceId, principal);

export async function listInvoices(
  tableName: string,
  query: {
    limit: number;
    cursor?: string | undefined;
    customer_id?: string | undefined;
    status?: string | undefined;
  },
  principal: Principal,
): Promise<Page<Invoice>> {
  const repository = new InvoicesRepository(tableName);
  const customerId = query.customer_id ?? principal.tenantId;
  if (customerId === undefined) return repository.listAll(query.limit, query.cursor, query.status);
  if (!canAccessCustomer(principal, customerId)) {
    throw new DomainError('forbidden', `This token may only list invoices of customer ${principal.tenantId}`);
  }
  return repository.listByCustomer(customerId, query.limit, query.cursor, query.status);
}
