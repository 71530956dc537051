import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { config } from '../../shared/config.ts';
import { sumQuantities } from '../../shared/domain/usage.ts';
import { InvoicesRepository } from '../../shared/store/invoices-repository.ts';
import { archivePrice, createPrice } from '../../shared/use-cases/catalog.ts';
import { getUsage, ingestUsage } from '../../shared/use-cases/usage.ts';
import { planWithPrices, subscribedCustomer } from '../support/catalog-setup.ts';
import { operator } from '../support/fixtures.ts';
import { useTestStore } from '../support/store.ts';

let store: Awaited<ReturnType<typeof useTestStore>>;
const table = () => config().tableName;
const caller = () => ({ principal: operator(), requestId: 'req', now: new Date() });

beforeAll(async () => {
  store = await useTestStore();
});

async function meteredSubscription() {
  const { plan } = await planWithPrices(table(), caller(), [
    { model: 'per_unit', metric: 'calls', unit_amount_decimal: '1' },
  ]);
  return subscribedCustomer(table(), caller(), [plan.id]);
}

const quantityText = fc.oneof(
  fc.integer({ min: 0, max: 1_000_000 }).map(String),
  fc
    .tuple(fc.integer({ min: 0, max: 999 }), fc.integer({ min: 1, max: 999_999 }))
    .map(([w, f]) => `${w}.${String(f).padStart(6, '0')}`),
);

describe('usage aggregation against DynamoDB Local', () => {
  it('random batches with random duplicates: the aggregate is the exact sum over unique keys', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 40 }), quantityText), { minLength: 1, maxLength: 120 }),
        fc.integer({ min: 1, max: 4 }),
        async (records, batches) => {
          const subscription = await meteredSubscription();
          // Each key keeps the quantity it was first sent with; re-sends carry the same quantity.
          const quantityOfKey = new Map<number, string>();
          for (const [key, quantity] of records)
            if (!quantityOfKey.has(key)) quantityOfKey.set(key, quantity);
          const bodies = records.map(([key]) => ({
            subscription_id: subscription.id,
            idempotency_key: `key-${key}`,
            metric: 'calls',
            quantity: quantityOfKey.get(key)!,
          }));
          const size = Math.ceil(bodies.length / batches);
          const results = await Promise.all(
            Array.from({ length: batches }, (_, b) =>
              ingestUsage(
                table(),
                { records: bodies.slice(b * size, (b + 1) * size), batch: true },
                caller(),
              ),
            ),
          );
          expect(results.reduce((n, r) => n + r.rejected, 0)).toBe(0);
          expect(results.reduce((n, r) => n + r.accepted, 0)).toBe(quantityOfKey.size);
          const view = await getUsage(table(), subscription.id, {}, caller());
          expect(view.metrics).toEqual([
            expect.objectContaining({
              metric: 'calls',
              quantity: sumQuantities([...quantityOfKey.values()]),
              records: quantityOfKey.size,
            }),
          ]);
        },
      ),
      { numRuns: 12 },
    );
  });

  it('late usage for a period whose invoice is finalized is refused and not counted', async () => {
    const subscription = await meteredSubscription();
    await new InvoicesRepository(table()).closePeriodToUsage(
      subscription.id,
      subscription.current_period_start,
      'in_test',
      new Date(),
    );
    const result = await ingestUsage(
      table(),
      {
        records: [
          { subscription_id: subscription.id, idempotency_key: 'late', metric: 'calls', quantity: 1 },
        ],
        batch: false,
      },
      caller(),
    );
    expect(result.results[0]).toMatchObject({
      status: 'rejected',
      error: { status: 409, errors: [{ field: 'timestamp' }] },
    });
    expect((await getUsage(table(), subscription.id, {}, caller())).metrics).toEqual([]);
    const counted = (await store.allItems()).filter(
      (i) => i.item_type === 'usage_record' && i.subscription_id === subscription.id,
    );
    expect(counted).toEqual([]);
  });

  it('a price replaced mid-period rates the usage sold under each price with that price', async () => {
    const { plan, prices } = await planWithPrices(table(), caller(), [
      { model: 'per_unit', metric: 'calls', unit_amount_decimal: '1' },
    ]);
    const cheap = prices[0]!;
    const subscription = await subscribedCustomer(table(), caller(), [plan.id]);
    const send = (key: string, quantity: number) =>
      ingestUsage(
        table(),
        {
          records: [{ subscription_id: subscription.id, idempotency_key: key, metric: 'calls', quantity }],
          batch: false,
        },
        caller(),
      );
    for (let i = 0; i < 8; i++) await send(`old-${i}`, 1); // 8 units at 1, spread over the shards
    await archivePrice(table(), cheap.id, caller(), undefined);
    const dear = await createPrice(
      table(),
      { plan_id: plan.id, model: 'per_unit', metric: 'calls', unit_amount_decimal: '100' },
      caller(),
      undefined,
    );
    for (let i = 0; i < 8; i++) await send(`new-${i}`, 5); // 40 units at 100
    const view = await getUsage(table(), subscription.id, {}, caller());
    expect(view.metrics.map((m) => [m.price_id, m.quantity, m.amount]).sort()).toEqual(
      [
        [cheap.id, '8', 8],
        [dear.id, '40', 4000],
      ].sort(),
    );
  });
});
