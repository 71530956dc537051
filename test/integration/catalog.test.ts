import { beforeAll, describe, expect, it } from 'vitest';
import { config } from '../../shared/config.ts';
import type { Plan, Product } from '../../shared/domain/catalog.ts';
import { parseWith } from '../../shared/http/validation.ts';
import {
  CreatePlanRequestSchema,
  CreatePriceRequestSchema,
  CreateProductRequestSchema,
} from '../../shared/schemas/catalog.ts';
import { IdempotencyKeyTaken, idempotencyClaim } from '../../shared/store/idempotency.ts';
import {
  archivePrice,
  createPlan,
  createPrice,
  createProduct,
  getPlan,
  getPrice,
  getProduct,
  listPlanPrices,
  listPlans,
  listPrices,
  listProducts,
} from '../../shared/use-cases/catalog.ts';
import { operator, tenantUser } from '../support/fixtures.ts';
import { useTestStore } from '../support/store.ts';

let store: Awaited<ReturnType<typeof useTestStore>>;
const table = () => config().tableName;
const caller = () => ({ principal: operator(), requestId: 'req-1', now: new Date() });

// Inputs go through the request schemas, so tests use exactly what a handler would pass on.
const productInput = (raw: Record<string, unknown> = {}) =>
  parseWith(CreateProductRequestSchema, { name: 'Attestation API', ...raw });
const planInput = (product_id: string, raw: Record<string, unknown> = {}) =>
  parseWith(CreatePlanRequestSchema, {
    product_id,
    name: 'Gold',
    currency: 'usd',
    interval: 'month',
    total_budget: 500_000,
    ...raw,
  });
const priceInput = (raw: Record<string, unknown>) => parseWith(CreatePriceRequestSchema, raw);

const newProduct = () => createProduct(table(), productInput(), caller(), undefined);
const newPlan = async (product?: Product) =>
  createPlan(table(), planInput((product ?? (await newProduct())).id), caller(), undefined);
const perUnit = (plan: Plan, metric = 'attestations') =>
  createPrice(
    table(),
    priceInput({ plan_id: plan.id, model: 'per_unit', metric, unit_amount_decimal: '0.04' }),
    caller(),
    undefined,
  );

const itemsOf = async (id: string) =>
  (await store.allItems()).filter((item) => String(item.PK).endsWith(`#${id}`));
const auditsOf = async (id: string) => (await itemsOf(id)).filter((item) => item.item_type === 'audit');

/** Every page of a list, asserting no page is larger than asked. */
async function pageThrough<T>(
  list: (cursor: string | undefined) => Promise<{ data: T[]; next_cursor: string | null }>,
  limit: number,
): Promise<T[]> {
  const all: T[] = [];
  let cursor: string | undefined;
  do {
    const page = await list(cursor);
    expect(page.data.length).toBeLessThanOrEqual(limit);
    all.push(...page.data);
    cursor = page.next_cursor ?? undefined;
  } while (cursor);
  return all;
}

beforeAll(async () => {
  store = await useTestStore();
});

describe('catalog against DynamoDB Local', () => {
  it('a product, a plan and its prices of every model read back exactly as created', async () => {
    const product = await createProduct(
      table(),
      productInput({ description: 'Signed attestations', metadata: { line: 'core' } }),
      caller(),
      undefined,
    );
    expect(product).toMatchObject({ description: 'Signed attestations', active: true, version: 1 });
    expect(await getProduct(table(), product.id)).toEqual(product);

    const plan = await createPlan(
      table(),
      planInput(product.id, {
        routing_policy: { priority: 10, match_expression: 'true', strategy: 'failover', targets: ['a', 'b'] },
      }),
      caller(),
      undefined,
    );
    expect(plan).toMatchObject({ product_id: product.id, currency: 'USD', total_budget: 500_000 });
    expect(await getPlan(table(), plan.id)).toEqual(plan);

    const requests = [
      { model: 'flat', unit_amount: 4_900, nickname: 'Base fee' },
      { model: 'per_unit', metric: 'attestations', unit_amount_decimal: '0.04' },
      { model: 'package', metric: 'reports', unit_amount_decimal: '500', package_size: 1000 },
      {
        model: 'tiered_graduated',
        metric: 'api.calls',
        tiers: [
          { up_to: 1000, unit_amount_decimal: '0' },
          { up_to: 10_000, unit_amount_decimal: '0.5', flat_amount: 100 },
          { up_to: null, unit_amount_decimal: '0.25' },
        ],
      },
      { model: 'tiered_volume', metric: 'seats', tiers: [{ up_to: null, unit_amount_decimal: '100' }] },
    ];
    for (const request of requests) {
      const price = await createPrice(
        table(),
        priceInput({ plan_id: plan.id, ...request }),
        caller(),
        undefined,
      );
      expect(price).toMatchObject({ plan_id: plan.id, currency: 'USD', active: true, version: 1 });
      expect(Object.keys(price).sort()).toEqual(
        [
          'id',
          'plan_id',
          'product_id',
          'currency',
          'model',
          'metric',
          'unit_amount',
          'unit_amount_decimal',
          'package_size',
          'tiers',
          'nickname',
          'active',
          'created_at',
          'updated_at',
          'version',
        ].sort(),
      );
      expect(await getPrice(table(), price.id)).toEqual(price);
    }
    const prices = await listPlanPrices(table(), plan.id);
    expect(prices.map((p) => p.model)).toEqual(requests.map((r) => r.model));
    expect(prices.find((p) => p.model === 'flat')).toMatchObject({ metric: null, unit_amount: 4_900 });
    expect(prices.find((p) => p.model === 'tiered_graduated')?.tiers?.[0]).toEqual({
      up_to: 1000,
      unit_amount_decimal: '0',
      flat_amount: 0,
    });
  });

  it('every create writes the entity and its audit entry together, with nothing internal read back', async () => {
    const plan = await newPlan();
    const price = await perUnit(plan);
    // The plan's partition also holds the guard of the metric its price claimed.
    expect((await itemsOf(plan.id)).map((item) => item.item_type).sort()).toEqual([
      'audit',
      'plan',
      'price_metric_guard',
    ]);
    expect((await itemsOf(price.id)).map((item) => item.item_type).sort()).toEqual(['audit', 'price']);
    for (const [entity, type, action] of [
      [plan, 'plan', 'plan.created'],
      [price, 'price', 'price.created'],
    ] as const) {
      expect(await auditsOf(entity.id)).toEqual([
        expect.objectContaining({
          action,
          entity_type: type,
          entity_id: entity.id,
          actor: { kind: 'user', subject: 'operator-1', tenant_id: null },
          before: null,
          after: entity,
        }),
      ]);
    }
    const guard = (await itemsOf(plan.id)).find((item) => item.item_type === 'price_metric_guard');
    expect(guard).toMatchObject({ price_id: price.id });
    for (const attribute of ['PK', 'SK', 'GSI1PK', 'GSI2PK', 'item_type']) {
      expect(await getPrice(table(), price.id)).not.toHaveProperty(attribute);
    }
  });

  it('a plan for a product that does not exist is refused on product_id and writes nothing', async () => {
    const before = (await store.allItems()).length;
    await expect(
      createPlan(table(), planInput('no-such-product'), caller(), undefined),
    ).rejects.toMatchObject({
      kind: 'validation',
      fieldErrors: [{ field: 'product_id', message: 'no such product' }],
    });
    expect((await store.allItems()).length).toBe(before);
  });

  it('a price for a plan that does not exist is refused on plan_id', async () => {
    await expect(
      createPrice(
        table(),
        priceInput({ plan_id: 'nope', model: 'flat', unit_amount: 1 }),
        caller(),
        undefined,
      ),
    ).rejects.toMatchObject({ kind: 'validation', fieldErrors: [{ field: 'plan_id' }] });
  });

  it('a second active price for the same plan and metric is a conflict naming the first, and writes nothing', async () => {
    const plan = await newPlan();
    const first = await perUnit(plan, 'attestations');
    const before = (await store.allItems()).length;
    const second = createPrice(
      table(),
      priceInput({
        plan_id: plan.id,
        model: 'tiered_volume',
        metric: 'attestations',
        tiers: [{ up_to: null, unit_amount_decimal: '1' }],
      }),
      caller(),
      undefined,
    );
    await expect(second).rejects.toMatchObject({ kind: 'conflict', fieldErrors: [{ field: 'metric' }] });
    await expect(second).rejects.toThrow(new RegExp(`archive.*${first.id}|${first.id}.*archive`));
    expect((await store.allItems()).length).toBe(before);
    // Another metric on the same plan, or the same metric on another plan, is fine.
    await perUnit(plan, 'reports');
    await perUnit(await newPlan(), 'attestations');
  });

  it('concurrent prices for one plan and metric: exactly one is created', async () => {
    const plan = await newPlan();
    const outcomes = await Promise.allSettled(Array.from({ length: 8 }, () => perUnit(plan, 'race')));
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
    for (const outcome of outcomes.filter((o) => o.status === 'rejected')) {
      expect(outcome.reason).toMatchObject({ kind: 'conflict' });
    }
    expect(await listPlanPrices(table(), plan.id)).toHaveLength(1);
  });

  it('flat fees have no metric guard: a plan may carry several', async () => {
    const plan = await newPlan();
    for (const amount of [100, 200]) {
      await createPrice(
        table(),
        priceInput({ plan_id: plan.id, model: 'flat', unit_amount: amount }),
        caller(),
        undefined,
      );
    }
    expect((await listPlanPrices(table(), plan.id)).map((p) => p.unit_amount)).toEqual([100, 200]);
  });

  it('archiving frees the metric: a new price for it can then be created', async () => {
    const plan = await newPlan();
    const old = await perUnit(plan);
    const archived = await archivePrice(table(), old.id, caller(), undefined);
    expect(archived).toMatchObject({ id: old.id, active: false, version: 2 });
    expect(archived.updated_at >= old.updated_at).toBe(true);
    expect(await getPrice(table(), old.id)).toEqual(archived);
    const audits = await auditsOf(old.id);
    expect(audits.find((a) => a.action === 'price.archived')).toMatchObject({ before: old, after: archived });

    const replacement = await perUnit(plan);
    expect(replacement.id).not.toBe(old.id);
    const all = await listPlanPrices(table(), plan.id);
    expect(all.map((p) => [p.id, p.active])).toEqual([
      [old.id, false],
      [replacement.id, true],
    ]);
  });

  it('archiving an archived price is an invalid state transition and audits nothing more', async () => {
    const price = await perUnit(await newPlan());
    await archivePrice(table(), price.id, caller(), undefined);
    const before = await store.allItems();
    await expect(archivePrice(table(), price.id, caller(), undefined)).rejects.toMatchObject({
      kind: 'invalid-state-transition',
    });
    expect(await store.allItems()).toHaveLength(before.length);
    expect(await auditsOf(price.id)).toHaveLength(2);
  });

  it('archiving a price that does not exist is not found', async () => {
    await expect(archivePrice(table(), 'missing', caller(), undefined)).rejects.toMatchObject({
      kind: 'not-found',
    });
  });

  it('a create whose idempotency key is already taken writes nothing at all', async () => {
    const product = await newProduct();
    const claim = idempotencyClaim('operator-1', 'plans-create', `key-${Date.now()}`, 'h', new Date(), 3600);
    const record = (body: unknown) => ({ claim, response: { status: 201, body } });
    await createPlan(table(), planInput(product.id), caller(), { record });
    const before = (await store.allItems()).length;
    await expect(createPlan(table(), planInput(product.id), caller(), { record })).rejects.toBeInstanceOf(
      IdempotencyKeyTaken,
    );
    expect((await store.allItems()).length).toBe(before);
  });

  it('only operators change the catalog; tenant tokens may read it', async () => {
    const plan = await newPlan();
    const tenant = { ...caller(), principal: tenantUser('t-1') };
    await expect(createProduct(table(), productInput(), tenant, undefined)).rejects.toMatchObject({
      kind: 'forbidden',
    });
    await expect(createPlan(table(), planInput(plan.product_id), tenant, undefined)).rejects.toMatchObject({
      kind: 'forbidden',
    });
    const price = await perUnit(plan);
    await expect(archivePrice(table(), price.id, tenant, undefined)).rejects.toMatchObject({
      kind: 'forbidden',
    });
    expect(await getPlan(table(), plan.id)).toEqual(plan);
  });

  it('lists page through the plans of a product and the prices of a plan exactly once, oldest first', async () => {
    const product = await newProduct();
    const otherPlan = await newPlan();
    const plans: Plan[] = [];
    for (let i = 0; i < 5; i++) plans.push(await newPlan(product));
    await perUnit(otherPlan);

    const listed = await pageThrough(
      (cursor) => listPlans(table(), { limit: 2, cursor, product_id: product.id }),
      2,
    );
    expect(listed.map((p) => p.id)).toEqual(plans.map((p) => p.id));

    const plan = plans[0]!;
    const priceIds: string[] = [];
    for (let i = 0; i < 7; i++) priceIds.push((await perUnit(plan, `metric-${i}`)).id);
    await archivePrice(table(), priceIds[3]!, caller(), undefined);
    const prices = await pageThrough(
      (cursor) => listPrices(table(), { limit: 3, cursor, plan_id: plan.id }),
      3,
    );
    expect(prices.map((p) => p.id)).toEqual(priceIds);
    expect((await listPlanPrices(table(), plan.id)).map((p) => p.id)).toEqual(priceIds);

    const allPlans = await pageThrough((cursor) => listPlans(table(), { limit: 4, cursor }), 4);
    expect(allPlans.map((p) => p.id)).toEqual(expect.arrayContaining([...plans, otherPlan].map((p) => p.id)));
    expect(new Set(allPlans.map((p) => p.id)).size).toBe(allPlans.length);
    const allPrices = await pageThrough((cursor) => listPrices(table(), { limit: 50, cursor }), 50);
    expect(allPrices.map((p) => p.id)).toEqual(expect.arrayContaining(priceIds));
    const allProducts = await pageThrough((cursor) => listProducts(table(), { limit: 3, cursor }), 3);
    expect(allProducts.map((p) => p.id)).toContain(product.id);
  });

  it("a cursor from one product's plans is refused for another's", async () => {
    const [a, b] = [await newProduct(), await newProduct()];
    await newPlan(a);
    await newPlan(a);
    const page = await listPlans(table(), { limit: 1, product_id: a.id });
    expect(page.next_cursor).not.toBeNull();
    await expect(
      listPlans(table(), { limit: 1, cursor: page.next_cursor!, product_id: b.id }),
    ).rejects.toMatchObject({ kind: 'validation', fieldErrors: [{ field: 'cursor' }] });
  });
});
