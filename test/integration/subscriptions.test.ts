import { beforeAll, describe, expect, it } from 'vitest';
import { config } from '../../shared/config.ts';
import { createPlan, createPrice, createProduct } from '../../shared/use-cases/catalog.ts';
import { createCustomer } from '../../shared/use-cases/customers.ts';
import { createSubscription, updateSubscription } from '../../shared/use-cases/subscriptions.ts';
import { customerInput, operator } from '../support/fixtures.ts';
import { useTestStore } from '../support/store.ts';

let store: Awaited<ReturnType<typeof useTestStore>>;
const at = (iso: string) => ({ principal: operator(), requestId: 'req', now: new Date(iso) });
const table = () => config().tableName;

beforeAll(async () => {
  store = await useTestStore();
});

async function setup() {
  const caller = at('2026-03-01T00:00:00Z');
  const product = await createProduct(table(), { name: 'API' }, caller, undefined);
  const plan = (name: string, fee: number, budget: number) =>
    createPlan(
      table(),
      { product_id: product.id, name, currency: 'USD', interval: 'month', total_budget: budget },
      caller,
      undefined,
    ).then(async (p) => {
      await createPrice(table(), { plan_id: p.id, model: 'flat', unit_amount: fee }, caller, undefined);
      return p;
    });
  const basic = await plan('Basic', 1000, 10_000);
  const pro = await plan('Pro', 3100, 50_000);
  const customer = await createCustomer(table(), customerInput(), caller, undefined);
  const subscription = await createSubscription(
    table(),
    { customer_id: customer.id, plan_id: basic.id },
    caller,
    undefined,
  );
  return { basic, pro, customer, subscription };
}

const itemsOf = async (subscriptionId: string) =>
  (await store.allItems()).filter(
    (item) => item.PK === `SUBSCRIPTION#${subscriptionId}` || item.subscription_id === subscriptionId,
  );

describe('subscriptions against DynamoDB Local', () => {
  it('a mid-period plan change stores the proration credit and charge, each with an audit entry, in one write', async () => {
    const { pro, subscription } = await setup();
    // March has 31 days: 10 days in, 21/31 of the period remain.
    await updateSubscription(table(), subscription.id, { plan_id: pro.id }, 1, at('2026-03-11T00:00:00Z'));
    const items = await itemsOf(subscription.id);
    const pending = items.filter((i) => i.item_type === 'pending_item');
    expect(pending.map((i) => [i.kind, i.amount]).sort()).toEqual([
      ['proration_charge', 2100],
      ['proration_credit', -677],
    ]);
    const audits = (await store.allItems()).filter(
      (i) => i.item_type === 'audit' && i.action === 'proration.created',
    );
    expect(audits.map((a) => (a.after as { id: string }).id).sort()).toEqual(pending.map((p) => p.id).sort());
    expect(items.filter((i) => i.item_type === 'audit' && i.action === 'subscription.updated')).toHaveLength(
      1,
    );
  });

  it('a subscription for a customer that does not exist writes nothing', async () => {
    const { basic } = await setup();
    const before = (await store.allItems()).length;
    await expect(
      createSubscription(
        table(),
        { customer_id: 'ghost', plan_id: basic.id },
        at('2026-03-01T00:00:00Z'),
        undefined,
      ),
    ).rejects.toMatchObject({ kind: 'validation', fieldErrors: [{ field: 'customer_id' }] });
    expect((await store.allItems()).length).toBe(before);
  });

  it('a stale version is refused and nothing is written', async () => {
    const { subscription } = await setup();
    await updateSubscription(
      table(),
      subscription.id,
      { total_budget: 1 },
      undefined,
      at('2026-03-02T00:00:00Z'),
    );
    const before = (await store.allItems()).length;
    await expect(
      updateSubscription(
        table(),
        subscription.id,
        { total_budget: 2, version: 1 },
        undefined,
        at('2026-03-02T00:00:00Z'),
      ),
    ).rejects.toMatchObject({ kind: 'version-conflict' });
    expect((await store.allItems()).length).toBe(before);
  });

  it('concurrent changes without a version all apply, one after another', async () => {
    const { subscription } = await setup();
    const caller = at('2026-03-02T00:00:00Z');
    await Promise.all([
      updateSubscription(table(), subscription.id, { total_budget: 5 }, undefined, caller),
      updateSubscription(table(), subscription.id, { cancel_at_period_end: true }, undefined, caller),
    ]);
    const stored = (await itemsOf(subscription.id)).find((i) => i.item_type === 'subscription')!;
    expect(stored).toMatchObject({ version: 3, total_budget: 5, cancel_at_period_end: true });
  });
});
