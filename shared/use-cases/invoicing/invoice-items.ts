import { notFound } from '../../domain/errors.ts';
import { canAccessCustomer, type Principal } from '../../domain/principal.ts';
import { InvoiceItemsRepository } from '../../store/invoice-items-repository.ts';
import type { Page } from '../../store/pagination.ts';
import { type StoredPendingItem, SubscriptionsRepository } from '../../store/subscriptions-repository.ts';

/**
 * A page of a subscription's invoice items, oldest first: one-time items and prorations, those still
 * pending (`invoice_id` null) and those an invoice took (`pending=true` keeps the first, `pending=false` the others; a page may then hold fewer than `limit`).
 */
export async function listInvoiceItems(
  tableName: string,
  query: {
    subscription_id: string;
    limit: number;
    cursor?: string | undefined;
    pending?: 'true' | 'false' | undefined;
  },
  principal: Principal,
): Promise<Page<StoredPendingItem>> {
  const subscription = await new SubscriptionsRepository(tableName).get(query.subscription_id);
  if (!subscription || !canAccessCustomer(principal, subscription.customer_id))
    throw notFound('Subscription', query.subscription_id);
  const page = await new InvoiceItemsRepository(tableName).listOfSubscription(
    subscription.id,
    query.limit,
    query.cursor,
  );
  if (query.pending === undefined) return page;
  const pending = query.pending === 'true';
  return { ...page, data: page.data.filter((item) => (item.invoice_id === null) === pending) };
}
