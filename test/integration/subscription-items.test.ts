import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { config } from '../../shared/config.ts';
import type { Invoice } from '../../shared/domain/invoice.ts';
import { dynamo } from '../../shared/store/client.ts';
import { subscriptionKey } from '../../shared/store/keys.ts';
import { createPlan, createPrice, createProduct } from '../../shared/use-cases/catalog.ts';
import { createCustomer } from '../../shared/use-cases/customers.ts';
import { closeDuePeriods } from '../../shared/use-cases/invoicing/close-periods.ts';
import { finalizeInvoice } from '../../shared/use-cases/invoicing/finalize-invoice.ts';
import { listInvoices } from '../../shared/use-cases/invoicing/invoices.ts';
import { upcomingInvoice } from '../../shared/use-cases/invoicing/upcoming-invoice.ts';
import {
  createSubscription,
  getSubscription,
  updateSubscription,
} from '../../shared/use-cases/subscriptions.ts';
import { ingestUsage } from '../../shared/use-cases/usage.ts';
import { customerInput, operator, tenantUser } from '../support/fixtures.ts';
import { useTestStore } from '../support/store.ts';

/**
 * Subscriptions of several items on DynamoDB Local, each amount stated by hand from
 * docs/billing-rules.md ("Items"); and the upcoming-invoice preview against the invoice the close
 * then drafts. March 2026 has 31 days; April 30.
 */
let store: Awaited<ReturnType<typeof useTestStore>>;
const at = (iso: string) => ({ principal: operator(), requestId: 'req', now: new Date(iso) });
const table = () => config().tableName;

beforeAll(async () => {
  store = await useTestStore();
});

async function catalog() {
  const caller = at('2026-03-01T00:00:00Z');
  const product = await createProduct(table(), { name: 'Attestation API' }, caller, undefined);
  const addOns = await createProduct(table(), { name: 'Compliance Reports' }, caller, undefined);
  const plan = async (
    productId: string,
    name: string,
    options: {
      fee: number;
      budget: number;
      timing?: 'in_advance' | 'in_arrears';
      interval?: 'month' | 'year';
      metric?: string;
      currency?: string;
    },
  ) => {
    const created = await createPlan(
      table(),
      {
        product_id: productId,
        name,
        currency: options.currency ?? 'USD',
        interval: options.interval ?? 'month',
        fee_timing: options.timing ?? 'in_advance',
        total_budget: options.budget,
      },
      caller,
      undefined,
    );
    if (options.fee > 0)
      await createPrice(
        table(),
        { plan_id: created.id, model: 'flat', unit_amount: options.fee },
        caller,
        undefined,
      );
    if (options.metric)
      await createPrice(
        table(),
        { plan_id: created.id, model: 'per_unit', metric: options.metric, unit_amount_decimal: '0.5' },
        caller,
        undefined,
      );
    return created;
  };
  return {
    base: await plan(product.id, 'API', { fee: 3100, budget: 10_000, metric: 'attestations' }),
    pro: await plan(product.id, 'API Pro', { fee: 6200, budget: 40_000, metric: 'attestations' }),
    seats: await plan(addOns.id, 'Seats', { fee: 1000, budget: 500 }),
    reports: await plan(addOns.id, 'Reports', {
      fee: 620,
      budget: 2_000,
      timing: 'in_arrears',
      metric: 'reports',
    }),
    yearly: await plan(addOns.id, 'Archive', { fee: 9000, budget: 0, interval: 'year' }),
    euro: await plan(addOns.id, 'Euro add-on', { fee: 900, budget: 0, currency: 'EUR' }),
    overlapping: await plan(addOns.id, 'Also attestations', { fee: 100, budget: 0, metric: 'attestations' }),
  };
}

/** A new customer subscribed on March 1st with `request` (plan_id or items). */
async function subscribe(request: { plan_id?: string; items?: { plan_id: string; quantity?: number }[] }) {
  const customer = await createCustomer(table(), customerInput(), at('2026-03-01T00:00:00Z'), undefined);
  const subscription = await createSubscription(
    table(),
    { customer_id: customer.id, ...request },
    at('2026-03-01T00:00:00Z'),
    undefined,
  );
  return { customer, subscription };
}

const invoicesOf = async (customerId: string): Promise<Invoice[]> =>
  (await listInvoices(table(), { limit: 100, customer_id: customerId }, operator())).data;

const lineView = (lines: Invoice['lines']) =>
  lines.map((l) => [l.kind, l.plan_id ?? l.metric, l.amount, l.description]).sort();

describe('subscriptions of several items', () => {
  it('a base plan and a per-seat add-on: one invoice with a line each, the budget their sum', async () => {
    const plans = await catalog();
    const { customer, subscription } = await subscribe({
      items: [{ plan_id: plans.base.id }, { plan_id: plans.seats.id, quantity: 3 }],
    });
    expect(subscription.plan_id).toBe(plans.base.id);
    expect(subscription.items.map((i) => [i.plan_id, i.quantity])).toEqual([
      [plans.base.id, 1],
      [plans.seats.id, 3],
    ]);
    // Budgets: 10 000 + 500 (each plan once, whatever its quantity).
    expect(subscription.total_budget).toBe(10_500);
    const [first] = await invoicesOf(customer.id);
    expect(first!.billing_reason).toBe('subscription_create');
    // 3100 for the base plan, 3 × 1000 for the seats, each for March.
    expect(lineView(first!.lines)).toEqual(
      [
        ['subscription_fee', plans.base.id, 3100, 'API: 2026-03-01 to 2026-04-01'],
        ['subscription_fee', plans.seats.id, 3000, 'Seats × 3: 2026-03-01 to 2026-04-01'],
      ].sort(),
    );
    expect(first!.total).toBe(6100);
  });

  it('adding, re-quantifying and removing items mid-period is each a plan change of that item alone', async () => {
    const plans = await catalog();
    const { customer, subscription } = await subscribe({
      items: [{ plan_id: plans.base.id }, { plan_id: plans.seats.id, quantity: 2 }],
    });
    // Day 11 (10 of 31 days gone, 21 left): seats 2 → 5, and the in-arrears Reports add-on added.
    const changed = await updateSubscription(
      table(),
      subscription.id,
      {
        items: [
          { plan_id: plans.base.id },
          { plan_id: plans.seats.id, quantity: 5 },
          { plan_id: plans.reports.id },
        ],
      },
      undefined,
      at('2026-03-11T00:00:00Z'),
    );
    expect(changed.total_budget).toBe(12_500);
    // Day 21 (20 gone, 11 left): Reports removed: its used time from day 11 to 21 is billed now.
    await updateSubscription(
      table(),
      subscription.id,
      { items: [{ plan_id: plans.base.id }, { plan_id: plans.seats.id, quantity: 5 }] },
      undefined,
      at('2026-03-21T00:00:00Z'),
    );
    await closeDuePeriods(table(), new Date('2026-04-01T00:00:00Z'));
    const cycle = (await invoicesOf(customer.id)).find((i) => i.billing_reason === 'subscription_cycle')!;
    // By hand: 2 seats (2000) credited for 21/31: round(2000 × 21/31) = 1355; 5 seats (5000) charged
    // for 21/31: round(5000 × 21/31) = 3387; Reports (620, in arrears) used 10/31 of March from day
    // 11: round(620 × 20/31) − round(620 × 10/31) = 400 − 200 = 200. Then April in advance: 3100 +
    // 5 × 1000.
    expect(lineView(cycle.lines)).toEqual(
      [
        ['proration', plans.seats.id, -1355, 'Unused time on Seats × 2 from 2026-03-11'],
        ['proration', plans.seats.id, 3387, 'Remaining time on Seats × 5 from 2026-03-11'],
        ['subscription_fee', plans.reports.id, 200, 'Reports: 2026-03-11 to 2026-03-21'],
        ['subscription_fee', plans.base.id, 3100, 'API: 2026-04-01 to 2026-05-01'],
        ['subscription_fee', plans.seats.id, 5000, 'Seats × 5: 2026-04-01 to 2026-05-01'],
      ].sort(),
    );
    expect(cycle.total).toBe(-1355 + 3387 + 200 + 3100 + 5000);
  });

  it('removing an in-arrears add-on with proration_behavior none bills it to the period end, then it is gone', async () => {
    const plans = await catalog();
    const { customer, subscription } = await subscribe({
      items: [{ plan_id: plans.base.id }, { plan_id: plans.reports.id }],
    });
    const removed = await updateSubscription(
      table(),
      subscription.id,
      { items: [{ plan_id: plans.base.id }], proration_behavior: 'none' },
      undefined,
      at('2026-03-11T00:00:00Z'),
    );
    expect(removed.items.map((i) => [i.plan_id, i.quantity])).toEqual([
      [plans.base.id, 1],
      [plans.reports.id, 0],
    ]);
    // Its metric is no longer rated: usage of it is refused from the removal on.
    const usage = await ingestUsage(
      table(),
      {
        records: [
          { subscription_id: subscription.id, metric: 'reports', quantity: '1', idempotency_key: 'r-1' },
        ],
        batch: false,
      },
      at('2026-03-12T00:00:00Z'),
    );
    expect(usage.results[0]).toMatchObject({ status: 'rejected', error: { status: 422 } });
    await closeDuePeriods(table(), new Date('2026-04-01T00:00:00Z'));
    const cycle = (await invoicesOf(customer.id)).find((i) => i.billing_reason === 'subscription_cycle')!;
    expect(lineView(cycle.lines)).toEqual(
      [
        ['subscription_fee', plans.reports.id, 620, 'Reports: 2026-03-01 to 2026-04-01'],
        ['subscription_fee', plans.base.id, 3100, 'API: 2026-04-01 to 2026-05-01'],
      ].sort(),
    );
    const after = await getSubscription(table(), subscription.id, operator());
    expect(after.items.map((i) => i.plan_id)).toEqual([plans.base.id]);
  });

  it('a tenant may change its items, but only an operator may leave a change unbilled (proration_behavior none)', async () => {
    const plans = await catalog();
    const { customer, subscription } = await subscribe({ plan_id: plans.base.id });
    const tenant = {
      principal: tenantUser(customer.id),
      requestId: 'tenant',
      now: new Date('2026-03-11T00:00:00Z'),
    };
    const addOn = { items: [{ plan_id: plans.base.id }, { plan_id: plans.seats.id }] };
    await expect(
      updateSubscription(
        table(),
        subscription.id,
        { ...addOn, proration_behavior: 'none' },
        undefined,
        tenant,
      ),
    ).rejects.toMatchObject({ kind: 'forbidden' });
    const changed = await updateSubscription(table(), subscription.id, addOn, undefined, tenant);
    expect(changed.items.map((i) => i.plan_id)).toEqual([plans.base.id, plans.seats.id]);
  });

  it('items that cannot go together are refused, each naming its field, and nothing is written', async () => {
    const plans = await catalog();
    const customer = await createCustomer(table(), customerInput(), at('2026-03-01T00:00:00Z'), undefined);
    const before = (await store.allItems()).length;
    const refused = (items: { plan_id: string; quantity?: number }[]) =>
      createSubscription(
        table(),
        { customer_id: customer.id, items },
        at('2026-03-01T00:00:00Z'),
        undefined,
      ).then(
        () => undefined,
        (error: { kind: string; fieldErrors: { field: string; message: string }[] }) => ({
          kind: error.kind,
          fields: error.fieldErrors.map((e) => e.field),
          message: error.fieldErrors.map((e) => e.message).join(' '),
        }),
      );
    expect(await refused([{ plan_id: plans.base.id }, { plan_id: plans.base.id }])).toMatchObject({
      kind: 'unprocessable',
      fields: ['items.1.plan_id'],
      message: expect.stringMatching(/already item 0/),
    });
    expect(await refused([{ plan_id: plans.base.id }, { plan_id: plans.yearly.id }])).toMatchObject({
      kind: 'unprocessable',
      fields: ['items.1.plan_id'],
      message: expect.stringMatching(/year/),
    });
    expect(await refused([{ plan_id: plans.base.id }, { plan_id: plans.euro.id }])).toMatchObject({
      kind: 'unprocessable',
      fields: ['items.1.plan_id'],
      message: expect.stringMatching(/EUR/),
    });
    expect(await refused([{ plan_id: plans.base.id }, { plan_id: plans.overlapping.id }])).toMatchObject({
      kind: 'unprocessable',
      fields: ['items.1.plan_id'],
      message: expect.stringMatching(/attestations/),
    });
    expect(await refused([{ plan_id: plans.base.id }, { plan_id: 'no-such-plan' }])).toMatchObject({
      kind: 'validation',
      fields: ['items.1.plan_id'],
    });
    expect((await store.allItems()).length).toBe(before);
  });

  it('a PATCH of items keeps the quantity of a plan sent without one; the base fee state is also stored where the release before reads it', async () => {
    const plans = await catalog();
    const { subscription } = await subscribe({
      items: [{ plan_id: plans.base.id }, { plan_id: plans.seats.id, quantity: 20 }],
    });
    const changed = await updateSubscription(
      table(),
      subscription.id,
      { items: [{ plan_id: plans.base.id }, { plan_id: plans.seats.id }, { plan_id: plans.reports.id }] },
      undefined,
      at('2026-03-11T00:00:00Z'),
    );
    expect(changed.items.map((i) => [i.plan_id, i.quantity])).toEqual([
      [plans.base.id, 1],
      [plans.seats.id, 20],
      [plans.reports.id, 1],
    ]);
    const stored = (await store.allItems()).find(
      (item) => item.PK === `SUBSCRIPTION#${subscription.id}` && item.SK === 'PROFILE',
    )!;
    expect(stored).toMatchObject({
      fee_segment_start: changed.items[0]!.fee_segment_start,
      fee_prepaid: true,
      billed_fee: changed.items[0]!.billed_fee,
    });
    // This release reads items only: the copy is not part of the API shape.
    const read = await getSubscription(table(), subscription.id, operator());
    expect(Object.keys(read)).not.toContain('fee_prepaid');
  });

  it('a subscription stored before items existed reads as one item with its fee state, and changes like one', async () => {
    const plans = await catalog();
    const { subscription } = await subscribe({ plan_id: plans.base.id });
    // The stored shape of before: one plan, its fee state on the subscription itself.
    const { items: _items, ...legacy } = subscription;
    await dynamo().send(
      new PutCommand({
        TableName: table(),
        Item: {
          ...subscriptionKey(subscription.id),
          item_type: 'subscription',
          ...legacy,
          fee_segment_start: subscription.current_period_start,
          fee_prepaid: true,
          billed_fee: subscription.items[0]!.billed_fee,
        },
      }),
    );
    const read = await getSubscription(table(), subscription.id, operator());
    expect(read.items).toEqual([
      {
        plan_id: plans.base.id,
        quantity: 1,
        fee_segment_start: subscription.current_period_start,
        fee_prepaid: true,
        billed_fee: subscription.items[0]!.billed_fee,
      },
    ]);
    // Day 11 to Pro: credit round(3100 × 21/31) = 2100, charge round(6200 × 21/31) = 4200.
    await updateSubscription(
      table(),
      subscription.id,
      { plan_id: plans.pro.id },
      undefined,
      at('2026-03-11T00:00:00Z'),
    );
    const preview = await upcomingInvoice(table(), subscription.id, {}, at('2026-03-12T00:00:00Z'));
    expect(
      preview.lines
        .filter((l) => l.kind === 'proration')
        .map((l) => l.amount)
        .sort(),
    ).toEqual([-2100, 4200]);
  });
});

describe('the upcoming invoice', () => {
  it('is exactly the invoice the close then drafts when nothing changes in between', async () => {
    const plans = await catalog();
    const { customer, subscription } = await subscribe({
      items: [{ plan_id: plans.base.id }, { plan_id: plans.reports.id }],
    });
    await updateSubscription(
      table(),
      subscription.id,
      {
        items: [
          { plan_id: plans.base.id },
          { plan_id: plans.reports.id },
          { plan_id: plans.seats.id, quantity: 2 },
        ],
      },
      undefined,
      at('2026-03-11T00:00:00Z'),
    );
    await ingestUsage(
      table(),
      {
        records: [
          {
            subscription_id: subscription.id,
            metric: 'attestations',
            quantity: '1501',
            idempotency_key: 'a-1',
          },
          { subscription_id: subscription.id, metric: 'reports', quantity: '7', idempotency_key: 'r-1' },
        ],
        batch: true,
      },
      at('2026-03-15T00:00:00Z'),
    );
    const before = (await store.allItems()).length;
    const preview = await upcomingInvoice(table(), subscription.id, {}, at('2026-03-20T00:00:00Z'));
    expect((await store.allItems()).length, 'a preview writes nothing').toBe(before);
    await closeDuePeriods(table(), new Date('2026-04-01T00:00:00Z'));
    const cycle = (await invoicesOf(customer.id)).find((i) => i.billing_reason === 'subscription_cycle')!;
    const comparable = (
      invoice: Pick<Invoice, 'lines' | 'total' | 'period_start' | 'period_end' | 'next_period_start'>,
    ) => ({
      lines: lineView(invoice.lines),
      quantities: invoice.lines.map((l) => l.quantity).sort(),
      total: invoice.total,
      period: [invoice.period_start, invoice.period_end, invoice.next_period_start],
    });
    expect(comparable(preview)).toEqual(comparable(cycle));
    // And it is what the rules say, by hand: 1501 × 0.5 = 750.5 → 751; 7 × 0.5 = 3.5 → 4; Reports in
    // arrears for March 620; seats 2 × 1000 for 21/31 = 1355; April: 3100 + 2000 in advance.
    expect(preview.total).toBe(751 + 4 + 620 + 1355 + 3100 + 2000);
    expect(preview.amount_due).toBe(preview.total);
  });

  it('with a proposed upgrade shows what the close bills if the upgrade is made now', async () => {
    const plans = await catalog();
    const { customer, subscription } = await subscribe({
      items: [{ plan_id: plans.base.id }, { plan_id: plans.seats.id }],
    });
    const moment = at('2026-03-11T00:00:00Z');
    const proposed = await upcomingInvoice(table(), subscription.id, { plan_id: plans.pro.id }, moment);
    // Nothing changed: the subscription is as it was.
    expect((await getSubscription(table(), subscription.id, operator())).version).toBe(subscription.version);
    expect(proposed.subscription_version).toBe(subscription.version);
    await updateSubscription(
      table(),
      subscription.id,
      { plan_id: plans.pro.id },
      subscription.version,
      moment,
    );
    await closeDuePeriods(table(), new Date('2026-04-01T00:00:00Z'));
    const cycle = (await invoicesOf(customer.id)).find((i) => i.billing_reason === 'subscription_cycle')!;
    expect(lineView(proposed.lines)).toEqual(lineView(cycle.lines));
    expect(proposed.total).toBe(cycle.total);
    // By hand: −round(3100 × 21/31) = −2100, +round(6200 × 21/31) = 4200; April 6200 + 1000.
    expect(proposed.total).toBe(-2100 + 4200 + 6200 + 1000);
  });

  it('with a change invoiced at once (always_invoice) is that invoice', async () => {
    const plans = await catalog();
    const { customer, subscription } = await subscribe({ plan_id: plans.base.id });
    const moment = at('2026-03-11T00:00:00Z');
    const proposed = await upcomingInvoice(
      table(),
      subscription.id,
      {
        items: [
          { plan_id: plans.base.id, quantity: 1 },
          { plan_id: plans.seats.id, quantity: 4 },
        ],
        proration_behavior: 'always_invoice',
      },
      moment,
    );
    expect(proposed).toMatchObject({
      billing_reason: 'subscription_update',
      drafted_at: moment.now.toISOString(),
    });
    await updateSubscription(
      table(),
      subscription.id,
      {
        items: [{ plan_id: plans.base.id }, { plan_id: plans.seats.id, quantity: 4 }],
        proration_behavior: 'always_invoice',
      },
      undefined,
      moment,
    );
    const update = (await invoicesOf(customer.id)).find((i) => i.billing_reason === 'subscription_update')!;
    expect(lineView(proposed.lines)).toEqual(lineView(update.lines));
    // 4 seats (4000) for 21/31 of March: 2710.
    expect(proposed.total).toBe(2710);
  });

  it('applies the credit balance as finalizing would, and is refused for a canceled subscription', async () => {
    const plans = await catalog();
    const { customer, subscription } = await subscribe({ plan_id: plans.pro.id });
    await updateSubscription(
      table(),
      subscription.id,
      { cancel_now: true },
      undefined,
      at('2026-03-11T00:00:00Z'),
    );
    await expect(
      upcomingInvoice(table(), subscription.id, {}, at('2026-03-12T00:00:00Z')),
    ).rejects.toMatchObject({
      kind: 'conflict',
    });
    // The cancel credits round(6200 × 21/31) = 4200 once finalized: the customer's credit balance.
    for (const invoice of await invoicesOf(customer.id)) {
      if (invoice.status === 'draft') await finalizeInvoice(table(), invoice.id, at('2026-03-11T00:00:00Z'));
    }
    const second = await createSubscription(
      table(),
      { customer_id: customer.id, plan_id: plans.base.id },
      at('2026-03-12T00:00:00Z'),
      undefined,
    );
    const preview = await upcomingInvoice(table(), second.id, {}, at('2026-03-13T00:00:00Z'));
    // The first invoice (3100, drafted at subscribe) is not finalized yet: all 4200 is still there.
    expect(preview).toMatchObject({ total: 3100, credit_applied: 3100, amount_due: 0 });
  });
});
