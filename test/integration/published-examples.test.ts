import { beforeAll, describe, expect, it } from 'vitest';
import { config } from '../../shared/config.ts';
import type { Invoice } from '../../shared/domain/invoice.ts';
import { createPlan, createPrice, createProduct } from '../../shared/use-cases/catalog.ts';
import { createCustomer, getCustomer } from '../../shared/use-cases/customers.ts';
import { closeDuePeriods } from '../../shared/use-cases/invoicing/close-periods.ts';
import { finalizeInvoice } from '../../shared/use-cases/invoicing/finalize-invoice.ts';
import { listInvoices } from '../../shared/use-cases/invoicing/invoices.ts';
import { createSubscription, updateSubscription } from '../../shared/use-cases/subscriptions.ts';
import { customerInput, operator } from '../support/fixtures.ts';
import { useTestStore } from '../support/store.ts';

/**
 * Published proration examples and the worked examples of docs/billing-rules.md, each amount
 * stated by hand from the example's own words, driven through the real use cases on DynamoDB Local.
 *
 * Stripe, "Prorations": upgrading from a 10 USD to a 20 USD monthly price halfway through the period
 * credits 5 USD of unused time and charges 10 USD of remaining time. Stripe's subscriptions guide:
 * 10 → 25 USD halfway credits 5 and charges 12.50, so the next invoice is 25 + 7.50 = 32.50; 25 → 10
 * USD halfway nets −7.50, so the next invoice is 10 − 7.50 = 2.50.
 */
const table = () => config().tableName;
const at = (iso: string) => ({ principal: operator(), requestId: 'examples', now: new Date(iso) });

/** March 2026 has 31 days: its exact middle is the 16th at noon. */
const MARCH = '2026-03-01T00:00:00.000Z';
const MID_MARCH = '2026-03-16T12:00:00.000Z';
const APRIL = '2026-04-01T00:00:00.000Z';
const AFTER_MARCH = '2026-04-01T00:00:01.000Z';

let productId: string;
const plans = new Map<string, string>();

beforeAll(async () => {
  await useTestStore();
  productId = (await createProduct(table(), { name: 'Examples' }, at(MARCH), undefined)).id;
});

async function plan(
  fee: number,
  options: { timing?: 'in_advance' | 'in_arrears'; interval?: 'month' | 'year' } = {},
): Promise<string> {
  const key = `${fee}-${options.timing ?? 'in_advance'}-${options.interval ?? 'month'}`;
  const existing = plans.get(key);
  if (existing) return existing;
  const created = await createPlan(
    table(),
    {
      product_id: productId,
      name: `Plan ${key}`,
      currency: 'USD',
      interval: options.interval ?? 'month',
      fee_timing: options.timing ?? 'in_advance',
      total_budget: 100_000,
    },
    at(MARCH),
    undefined,
  );
  await createPrice(table(), { plan_id: created.id, model: 'flat', unit_amount: fee }, at(MARCH), undefined);
  plans.set(key, created.id);
  return created.id;
}

async function subscribed(planId: string, when = MARCH) {
  const customer = await createCustomer(table(), customerInput(), at(when), undefined);
  const subscription = await createSubscription(
    table(),
    { customer_id: customer.id, plan_id: planId },
    at(when),
    undefined,
  );
  return { customer, subscription };
}

async function invoicesOf(customerId: string): Promise<Invoice[]> {
  return (await listInvoices(table(), { limit: 100, customer_id: customerId }, operator())).data;
}

const amounts = (invoice: Invoice | undefined) =>
  invoice?.lines.map((line) => line.amount).sort((a, b) => a - b);
const byReason = (invoices: Invoice[], reason: Invoice['billing_reason']) =>
  invoices.filter((invoice) => invoice.billing_reason === reason);

describe("Stripe's published proration examples", () => {
  it.each([
    // [from, to, credit, charge, the next invoice's total]
    [1000, 2000, -500, 1000, 2000 - 500 + 1000],
    [1000, 2500, -500, 1250, 3250],
    [2500, 1000, -1250, 500, 250],
  ])(
    '%i → %i at the exact middle: credit %i, charge %i; the next invoice is %i',
    async (from, to, credit, charge, next) => {
      const { customer, subscription } = await subscribed(await plan(from));
      await updateSubscription(
        table(),
        subscription.id,
        { plan_id: await plan(to) },
        undefined,
        at(MID_MARCH),
      );
      await closeDuePeriods(table(), new Date(AFTER_MARCH));

      const invoices = await invoicesOf(customer.id);
      expect(byReason(invoices, 'subscription_create').map((i) => i.total)).toEqual([from]);
      const [april] = byReason(invoices, 'subscription_cycle');
      expect(amounts(april)).toEqual([credit, charge, to].sort((a, b) => a - b));
      expect(april?.total).toBe(next);
      // The next period's fee is the new plan's, for April.
      expect(april?.lines.find((line) => line.amount === to)).toMatchObject({
        kind: 'subscription_fee',
        period_start: APRIL,
        period_end: '2026-05-01T00:00:00.000Z',
      });
    },
  );

  it('25 → 10 invoiced at once (always_invoice): −7.50 owes nothing, is kept as credit and pays the next invoice first', async () => {
    const { customer, subscription } = await subscribed(await plan(2500));
    await updateSubscription(
      table(),
      subscription.id,
      { plan_id: await plan(1000), proration_behavior: 'always_invoice' },
      undefined,
      at(MID_MARCH),
    );
    const [change] = byReason(await invoicesOf(customer.id), 'subscription_update');
    expect(amounts(change)).toEqual([-1250, 500]);
    const open = await finalizeInvoice(table(), change!.id, at(MID_MARCH));
    expect(open).toMatchObject({ total: -750, amount_due: 0, credited_to_balance: 750, credit_applied: 0 });
    expect((await getCustomer(table(), customer.id, operator())).credit_balance).toEqual({ USD: 750 });

    await closeDuePeriods(table(), new Date(AFTER_MARCH));
    const [april] = byReason(await invoicesOf(customer.id), 'subscription_cycle');
    expect(april?.total).toBe(1000);
    const finalized = await finalizeInvoice(table(), april!.id, at(AFTER_MARCH));
    expect(finalized).toMatchObject({ total: 1000, credit_applied: 750, amount_due: 250 });
    expect((await getCustomer(table(), customer.id, operator())).credit_balance).toEqual({ USD: 0 });
  });
});

describe('the worked examples of docs/billing-rules.md', () => {
  // April 2026: 30 days.
  const APRIL_11 = '2026-04-11T00:00:00.000Z';
  const APRIL_21 = '2026-04-21T00:00:00.000Z';

  it('1. in arrears, a change a second after subscribing bills the new plan once: 3000', async () => {
    const { customer, subscription } = await subscribed(await plan(1000, { timing: 'in_arrears' }), APRIL);
    await updateSubscription(
      table(),
      subscription.id,
      { plan_id: await plan(3000, { timing: 'in_arrears' }) },
      undefined,
      at('2026-04-01T00:00:01.000Z'),
    );
    await closeDuePeriods(table(), new Date('2026-05-01T00:00:01.000Z'));
    const invoices = await invoicesOf(customer.id);
    expect(invoices.map((i) => [i.billing_reason, i.total])).toEqual([['subscription_cycle', 3000]]);
  });

  it('4. in arrears, 1000 → 3000 at day 10 costs 333 + 2000 = 2333 for the period', async () => {
    const { customer, subscription } = await subscribed(await plan(1000, { timing: 'in_arrears' }), APRIL);
    await updateSubscription(
      table(),
      subscription.id,
      { plan_id: await plan(3000, { timing: 'in_arrears' }) },
      undefined,
      at(APRIL_11),
    );
    await closeDuePeriods(table(), new Date('2026-05-01T00:00:01.000Z'));
    const [cycle] = await invoicesOf(customer.id);
    expect(amounts(cycle)).toEqual([333, 2000]);
    expect(cycle?.total).toBe(2333);
  });

  it('5. monthly → yearly at day 10 bills at once: −667 for April unused, 30000 for the year, re-anchored', async () => {
    const { customer, subscription } = await subscribed(await plan(1000), APRIL);
    const annual = await plan(30_000, { interval: 'year' });
    const changed = await updateSubscription(
      table(),
      subscription.id,
      { plan_id: annual },
      undefined,
      at(APRIL_11),
    );
    expect(changed).toMatchObject({
      interval: 'year',
      billing_cycle_anchor: APRIL_11,
      current_period_start: APRIL_11,
      current_period_end: '2027-04-11T00:00:00.000Z',
    });
    const [update] = byReason(await invoicesOf(customer.id), 'subscription_update');
    expect(update).toMatchObject({
      period_start: APRIL,
      period_end: APRIL_11,
      bills_usage: true,
      total: 29_333,
    });
    expect(amounts(update)).toEqual([-667, 30_000]);
  });

  it('6. cancel now at day 20 in advance: −333; with prorate false, no credit', async () => {
    for (const [prorate, lines] of [
      [true, [-333]],
      [false, []],
    ] as const) {
      const { customer, subscription } = await subscribed(await plan(1000), APRIL);
      await updateSubscription(
        table(),
        subscription.id,
        { cancel_now: true, prorate },
        undefined,
        at(APRIL_21),
      );
      const [final] = byReason(await invoicesOf(customer.id), 'subscription_cancel');
      expect(final).toMatchObject({ period_start: APRIL, period_end: APRIL_21, next_period_start: null });
      expect(amounts(final)).toEqual(lines);
    }
  });
});

describe('counterexamples the lifecycle model found, kept as fixed cases', () => {
  it("two changes in one millisecond: the second, invoiced at once, takes the first one's proration too", async () => {
    const { customer, subscription } = await subscribed(await plan(1000), APRIL);
    const arrears = await plan(2000, { timing: 'in_arrears' });
    const moment = '2026-04-04T00:00:00.000Z';
    await updateSubscription(table(), subscription.id, { plan_id: arrears }, undefined, at(moment));
    await updateSubscription(
      table(),
      subscription.id,
      { plan_id: await plan(1000), proration_behavior: 'always_invoice' },
      undefined,
      at(moment),
    );
    const [update] = byReason(await invoicesOf(customer.id), 'subscription_update');
    // Basic's 27 unused days back, and the same 27 days of Basic charged again: nothing owed, nothing lost.
    expect(amounts(update)).toEqual([-900, 900]);
  });
});
