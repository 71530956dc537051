import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { runConcurrently } from '../../shared/concurrency.ts';
import { config } from '../../shared/config.ts';
import { dynamo } from '../../shared/store/client.ts';
import { byTypeKey, customerKey } from '../../shared/store/keys.ts';
import { createPlan, createPrice, createProduct } from '../../shared/use-cases/catalog.ts';
import { createCustomer, getCustomer } from '../../shared/use-cases/customers.ts';
import { finalizeInvoice } from '../../shared/use-cases/invoicing/finalize-invoice.ts';
import { listInvoices } from '../../shared/use-cases/invoicing/invoices.ts';
import { createSubscription } from '../../shared/use-cases/subscriptions.ts';
import { customerInput, operator } from '../support/fixtures.ts';
import { useTestStore } from '../support/store.ts';

/**
 * Invoice numbers are `<prefix>-<sequence>` with a prefix taken once per customer, unique in the
 * stage: never derived from the customer id, so ids that share their leading characters (the old
 * `INV-<first 8 of the id>` scheme gave such customers the same numbers) cannot collide.
 */
const table = () => config().tableName;
const at = (iso = '2026-05-01T00:00:00Z') => ({
  principal: operator(),
  requestId: 'numbers',
  now: new Date(iso),
});
let planId: string;

beforeAll(async () => {
  await useTestStore();
  const product = await createProduct(table(), { name: 'Numbers' }, at(), undefined);
  planId = (
    await createPlan(
      table(),
      { product_id: product.id, name: 'Numbered', currency: 'USD', interval: 'month', total_budget: 1 },
      at(),
      undefined,
    )
  ).id;
  await createPrice(table(), { plan_id: planId, model: 'flat', unit_amount: 500 }, at(), undefined);
});

/** A customer as stored before prefixes existed, with an id of our choosing. */
async function legacyCustomer(id: string): Promise<void> {
  const created_at = '2026-04-01T00:00:00.000Z';
  await dynamo().send(
    new PutCommand({
      TableName: table(),
      Item: {
        ...customerKey(id),
        ...byTypeKey('customer', created_at, id),
        item_type: 'customer',
        id,
        name: `Legacy ${id}`,
        email: 'legacy@example.com',
        metadata: {},
        stripe_customer_id: null,
        created_at,
        updated_at: created_at,
        version: 1,
      },
    }),
  );
}

/** Subscribes the customer (a plan in advance: its first invoice is drafted) and finalizes it. */
async function firstNumber(customerId: string): Promise<string> {
  await createSubscription(table(), { customer_id: customerId, plan_id: planId }, at(), undefined);
  const [draft] = (await listInvoices(table(), { limit: 10, customer_id: customerId }, operator())).data;
  return (await finalizeInvoice(table(), draft!.id, at()))!.number!;
}

describe('invoice numbers', () => {
  it('are unique across many customers whose ids share their first 24 characters, and gapless per customer', async () => {
    const ids = Array.from(
      { length: 60 },
      (_, i) => `aaaaaaaa-bbbb-cccc-dddd-${String(i).padStart(12, '0')}`,
    );
    for (const id of ids) await legacyCustomer(id);
    const numbers: string[] = [];
    await runConcurrently(ids.length, 6, async (i) => {
      numbers.push(await firstNumber(ids[i]!));
    });
    expect(new Set(numbers).size).toBe(ids.length);
    expect(numbers.every((n) => /^[A-Z2-9]{8}-0001$/.test(n))).toBe(true);
    // Each was given its prefix once, at its first finalization, and keeps it.
    const prefixes = await Promise.all(
      ids.map(async (id) => (await getCustomer(table(), id, operator())).invoice_prefix),
    );
    expect(new Set(prefixes).size).toBe(ids.length);
    expect(prefixes.map((p) => `${p}-0001`).sort()).toEqual([...numbers].sort());

    // A second invoice of one of them continues its own sequence.
    const again = await createSubscription(
      table(),
      { customer_id: ids[0]!, plan_id: planId },
      at(),
      undefined,
    );
    const drafts = (
      await listInvoices(table(), { limit: 10, customer_id: ids[0]!, status: 'draft' }, operator())
    ).data;
    expect(drafts.map((d) => d.subscription_id)).toEqual([again.id]);
    expect((await finalizeInvoice(table(), drafts[0]!.id, at()))!.number).toBe(`${prefixes[0]}-0002`);
  }, 90_000);

  it('a prefix drawn twice goes to one customer only: the other draws again', async () => {
    const draws = ['SAMEPREF', 'SAMEPREF', 'OTHERPRF'];
    const draw = () => draws.shift()!;
    const first = await createCustomer(table(), customerInput(), at(), undefined, draw);
    const second = await createCustomer(table(), customerInput(), at(), undefined, draw);
    expect([first.invoice_prefix, second.invoice_prefix]).toEqual(['SAMEPREF', 'OTHERPRF']);
    expect(await firstNumber(first.id)).toBe('SAMEPREF-0001');
    expect(await firstNumber(second.id)).toBe('OTHERPRF-0001');
  });
});
