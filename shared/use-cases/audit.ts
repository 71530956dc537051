import type { AuditedEntityType } from '../domain/audit.ts';
import { notFound } from '../domain/errors.ts';
import { canAccessCustomer, type Principal, requireOperator } from '../domain/principal.ts';
import { type AuditEntry, pageAuditTrail } from '../store/audit.ts';
import { CatalogRepository } from '../store/catalog-repository.ts';
import { CreditNotesRepository } from '../store/credit-notes-repository.ts';
import { CustomersRepository } from '../store/customers-repository.ts';
import { DiscountsRepository } from '../store/discounts-repository.ts';
import { InvoicesRepository } from '../store/invoices-repository.ts';
import type { Page } from '../store/pagination.ts';
import { SubscriptionsRepository } from '../store/subscriptions-repository.ts';

type Entity = { type: AuditedEntityType; id: string };

/**
 * One page of an entity's audit trail, oldest first. Operators read any trail; a tenant reads its
 * own customer's and those of the customer's subscriptions and invoices (another tenant's answer
 * 404, as everywhere else); catalog trails are for operators only.
 */
export async function listAuditTrail(
  tableName: string,
  entity: Entity,
  query: { limit: number; cursor?: string | undefined },
  principal: Principal,
): Promise<Page<AuditEntry>> {
  await requireVisibleEntity(tableName, entity, principal);
  return pageAuditTrail(tableName, entity.type, entity.id, query.limit, query.cursor);
}

/** The entity exists and this caller may see it, else the same 404 as the entity's own GET route. */
async function requireVisibleEntity(
  tableName: string,
  { type, id }: Entity,
  principal: Principal,
): Promise<void> {
  switch (type) {
    case 'customer': {
      const customer = canAccessCustomer(principal, id)
        ? await new CustomersRepository(tableName).get(id)
        : undefined;
      if (!customer) throw notFound('Customer', id);
      return;
    }
    case 'subscription': {
      const subscription = await new SubscriptionsRepository(tableName).get(id, true);
      if (!subscription || !canAccessCustomer(principal, subscription.customer_id))
        throw notFound('Subscription', id);
      return;
    }
    case 'invoice': {
      const invoice = await new InvoicesRepository(tableName).get(id);
      if (!invoice || !canAccessCustomer(principal, invoice.customer_id)) throw notFound('Invoice', id);
      return;
    }
    case 'credit_note': {
      const note = await new CreditNotesRepository(tableName).get(id);
      if (!note || !canAccessCustomer(principal, note.customer_id)) throw notFound('Credit note', id);
      return;
    }
    case 'product':
      return requireCatalogEntity(tableName, principal, 'Product', id, (catalog) => catalog.getProduct(id));
    case 'plan':
      return requireCatalogEntity(tableName, principal, 'Plan', id, (catalog) => catalog.getPlan(id));
    case 'price':
      return requireCatalogEntity(tableName, principal, 'Price', id, (catalog) => catalog.getPrice(id));
    case 'tax_rate':
      return requireCatalogEntity(tableName, principal, 'Tax rate', id, (catalog) => catalog.getTaxRate(id));
    case 'coupon':
      return requireCatalogEntity(tableName, principal, 'Coupon', id, () =>
        new DiscountsRepository(tableName).getCoupon(id),
      );
  }
}

/** Catalog entities belong to no tenant: their trails (operators' changes) are for operators only. */
async function requireCatalogEntity(
  tableName: string,
  principal: Principal,
  name: string,
  id: string,
  get: (catalog: CatalogRepository) => Promise<unknown>,
): Promise<void> {
  requireOperator(principal, `read the audit trail of a ${name.toLowerCase()}`);
  if (!(await get(new CatalogRepository(tableName)))) throw notFound(name, id);
}
