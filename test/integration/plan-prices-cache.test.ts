import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { config } from '../../shared/config.ts';
import { archivedPrice, newPrice } from '../../shared/domain/price-rules.ts';
import { auditBy } from '../../shared/store/audit.ts';
import { CatalogRepository } from '../../shared/store/catalog-repository.ts';
import { cachedPlanPrices, PLAN_PRICES_CACHE_MS } from '../../shared/store/plan-prices-cache.ts';
import { archivePrice, createPrice } from '../../shared/use-cases/catalog.ts';
import { getUsage, ingestUsage } from '../../shared/use-cases/usage.ts';
import { planWithPrices, subscribedCustomer } from '../support/catalog-setup.ts';
import { operator } from '../support/fixtures.ts';
import { useTestStore } from '../support/store.ts';

/**
 * Usage ingestion reads plan prices through a per-process cache (shared/store/plan-prices-cache.ts).
 * "Another process" here is a price written straight through the repository, as a catalog Lambda
 * elsewhere would: this process's cache is not told.
 */
const table = () => config().tableName;
const caller = () => ({ principal: operator(), requestId: 'req', now: new Date() });

beforeAll(async () => {
  await useTestStore();
});

async function subscribedTo(metric: string) {
  const { plan, prices } = await planWithPrices(table(), caller(), [
    { model: 'per_unit', metric, unit_amount_decimal: '1' },
  ]);
  const subscription = await subscribedCustomer(table(), caller(), [plan.id]);
  return { plan, price: prices[0]!, subscription };
}

/** A price written as another process would write it: straight to the store, no cache told. */
async function priceElsewhere(planId: string, metric: string, unitAmount: string) {
  const price = newPrice(
    { plan_id: planId, model: 'per_unit', metric, unit_amount_decimal: unitAmount },
    'USD',
    randomUUID(),
    new Date(),
  );
  const outcome = await new CatalogRepository(table()).createPrice(
    price,
    auditBy(caller(), 'price', price.id, 'price.created', null, price),
  );
  expect(outcome.created).toBe(true);
  return price;
}

const post = (subscriptionId: string, metric: string, key: string) =>
  ingestUsage(
    table(),
    {
      records: [{ subscription_id: subscriptionId, idempotency_key: key, metric, quantity: 1 }],
      batch: false,
    },
    caller(),
  );

describe('the plan prices cache of usage ingestion', () => {
  it('never refuses a metric on a cached word: one priced elsewhere is billable at once', async () => {
    const { plan, subscription } = await subscribedTo('calls');
    expect((await post(subscription.id, 'calls', 'warm')).results[0]!.status).toBe('accepted');
    await priceElsewhere(plan.id, 'tokens', '2');
    expect((await post(subscription.id, 'tokens', 'new-metric')).results[0]!.status).toBe('accepted');
  });

  it('entries of different ages never hand a metric to a later item: the base plan priced first wins', async () => {
    // Found in review: the base plan's entry (warmed by another subscription) lacked "tokens", the
    // add-on's was read fresh with it, and the record was counted under the add-on's price although
    // the base plan priced "tokens" first.
    const { plan: base, subscription: other } = await subscribedTo('calls');
    const { plan: addOn } = await subscribedTo('other');
    const subscription = await subscribedCustomer(table(), caller(), [base.id, addOn.id]);
    expect((await post(other.id, 'calls', 'warm')).results[0]!.status).toBe('accepted');
    const onBase = await priceElsewhere(base.id, 'tokens', '2');
    await priceElsewhere(addOn.id, 'tokens', '7');
    expect((await post(subscription.id, 'tokens', 'k1')).results[0]!.status).toBe('accepted');
    const usage = await getUsage(table(), subscription.id, {}, caller());
    expect(usage.metrics.find((m) => m.metric === 'tokens')?.price_id).toBe(onBase.id);
  });

  it('a price replaced in this process rates the next record at once', async () => {
    const { plan, price, subscription } = await subscribedTo('calls');
    await post(subscription.id, 'calls', 'before');
    await archivePrice(table(), price.id, caller(), undefined);
    const successor = await createPrice(
      table(),
      { plan_id: plan.id, model: 'per_unit', metric: 'calls', unit_amount_decimal: '3' },
      caller(),
      undefined,
    );
    await post(subscription.id, 'calls', 'after');
    const usage = await getUsage(table(), subscription.id, {}, caller());
    const byPrice = new Map(usage.metrics.map((m) => [m.price_id, m.quantity]));
    expect(byPrice.get(price.id)).toBe('1');
    expect(byPrice.get(successor.id)).toBe('1');
  });

  it('a price replaced elsewhere: the cached prices stand for at most PLAN_PRICES_CACHE_MS', async () => {
    const { plan, price } = await subscribedTo('calls');
    const activeFor = async (nowMs: number) =>
      (await cachedPlanPrices(table(), plan.id, { nowMs })).find((p) => p.active && p.metric === 'calls')?.id;
    expect(await activeFor(1_000)).toBe(price.id);
    const repository = new CatalogRepository(table());
    const archived = archivedPrice(price, new Date());
    await repository.archivePrice(
      price,
      archived,
      auditBy(caller(), 'price', price.id, 'price.archived', price, archived),
    );
    const successor = await priceElsewhere(plan.id, 'calls', '3');
    expect(await activeFor(1_000 + PLAN_PRICES_CACHE_MS - 1)).toBe(price.id);
    expect(await activeFor(1_000 + PLAN_PRICES_CACHE_MS)).toBe(successor.id);
  });
});
