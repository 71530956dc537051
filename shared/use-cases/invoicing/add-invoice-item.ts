import { randomUUID } from 'node:crypto';
import { DomainError, validationError } from '../../domain/errors.ts';
import { oneTimeCharge, requireOneTimePrice } from '../../domain/one-time.ts';
import { type Caller, requireOperator } from '../../domain/principal.ts';
import type { Subscription } from '../../domain/subscription.ts';
import type { AddInvoiceItemRequest } from '../../schemas/invoice-items.ts';
import { auditBy } from '../../store/audit.ts';
import { CatalogRepository } from '../../store/catalog-repository.ts';
import { type Idempotency, IdempotencyKeyTaken } from '../../store/idempotency.ts';
import { InvoiceItemsRepository } from '../../store/invoice-items-repository.ts';
import { type StoredPendingItem, SubscriptionsRepository } from '../../store/subscriptions-repository.ts';
import { changingConcurrently, LOST_RACE, retryOnLostRace } from '../optimistic.ts';
import { roomForPendingItems } from '../subscription-items.ts';
import { closeSubscriptionPeriods } from './close-periods.ts';

/**
 * Adds a one-time price to a subscription's next invoice (Stripe's invoice items): a pending item
 * of kind `one_time`, taken by the next invoice the subscription drafts (its period's close, a
 * change invoice, cancel now) like a proration. The item is written with its audit entry and the
 * idempotency record in one transaction, on the subscription version that was read.
 */
export async function addInvoiceItem(
  tableName: string,
  input: AddInvoiceItemRequest,
  caller: Caller,
  idempotency: Idempotency,
): Promise<StoredPendingItem> {
  requireOperator(caller.principal, 'add invoice items');
  const price = await new CatalogRepository(tableName).getPrice(input.price_id);
  const items = new InvoiceItemsRepository(tableName);
  return retryOnLostRace(
    5,
    async () => {
      const subscription = await currentSubscription(tableName, input, caller);
      const charge = oneTimeCharge(
        requireOneTimePrice(price, subscription.currency, 'price_id'),
        input.quantity,
        input.description,
        caller.now,
      );
      await roomForPendingItems(tableName, subscription, 1, {
        field: 'subscription_id',
        advice: 'sell this one on a one-off invoice (POST /api/v1/invoices)',
      });
      const item: StoredPendingItem = {
        ...charge,
        id: `ii_${randomUUID().replaceAll('-', '')}`,
        subscription_id: subscription.id,
        customer_id: subscription.customer_id,
        created_at: caller.now.toISOString(),
        invoice_id: null,
      };
      const outcome = await items.add(
        item,
        subscription.version,
        auditBy(caller, 'pending_item', item.id, 'invoice_item.created', null, item),
        idempotency?.record(item),
      );
      if (outcome === 'idempotency-key-taken') throw new IdempotencyKeyTaken();
      return outcome === 'added' ? item : LOST_RACE;
    },
    () => {
      throw changingConcurrently(`Subscription ${input.subscription_id}`);
    },
  );
}

/**
 * The subscription the item is for, in its current period: one whose period ended before the close
 * ran is closed first (as any change to it is), so the item joins the invoice of the period it is
 * added in. A canceled subscription has no next invoice.
 */
async function currentSubscription(
  tableName: string,
  input: AddInvoiceItemRequest,
  caller: Caller,
): Promise<Subscription> {
  const repository = new SubscriptionsRepository(tableName);
  let subscription = await repository.get(input.subscription_id, true);
  if (!subscription) throw validationError([{ field: 'subscription_id', message: 'no such subscription' }]);
  if (subscription.customer_id !== input.customer_id) {
    throw new DomainError(
      'unprocessable',
      `customer_id: subscription ${subscription.id} is another customer's`,
      [{ field: 'customer_id', message: `subscription ${subscription.id} belongs to another customer` }],
    );
  }
  if (subscription.status !== 'canceled' && new Date(subscription.current_period_end) <= caller.now) {
    await closeSubscriptionPeriods(tableName, subscription, caller);
    subscription = (await repository.get(input.subscription_id, true)) ?? subscription;
  }
  if (subscription.status === 'canceled') {
    throw new DomainError(
      'invalid-state-transition',
      `Subscription ${subscription.id} is canceled: it has no next invoice; sell the price on a one-off invoice (POST /api/v1/invoices)`,
    );
  }
  return subscription;
}
