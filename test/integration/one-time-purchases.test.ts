import { beforeAll, describe, expect, it } from 'vitest';
import { config } from '../../shared/config.ts';
import { budgetRowOf } from '../../shared/domain/budget.ts';
import { DomainError } from '../../shared/domain/errors.ts';
import type { Invoice } from '../../shared/domain/invoice.ts';
import { draftInvoice, MAX_PENDING_ITEMS_PER_INVOICE } from '../../shared/domain/invoice.ts';
import { closeCurrentPeriod } from '../../shared/domain/subscription.ts';
import type { InvoicePaidEventData } from '../../shared/events/catalog.ts';
import type { EventEnvelope } from '../../shared/events/envelope.ts';
import { eventsFromStreamRecord } from '../../shared/events/stream-mapping.ts';
import { applyBillingEvent } from '../../shared/smart-gateway/apply-event.ts';
import { auditBy, pageAuditTrail } from '../../shared/store/audit.ts';
import { BudgetRepository } from '../../shared/store/budget-repository.ts';
import { idempotencyClaim } from '../../shared/store/idempotency.ts';
import { InvoicesRepository } from '../../shared/store/invoices-repository.ts';
import { SubscriptionsRepository } from '../../shared/store/subscriptions-repository.ts';
import { budgetInputOf, projectBudget } from '../../shared/use-cases/budget-projection.ts';
import {
  createPlan,
  createPrice,
  createProduct,
  getPlanFee,
  listPrices,
  planFeesFor,
} from '../../shared/use-cases/catalog.ts';
import { createCustomer, getCustomer } from '../../shared/use-cases/customers.ts';
import { addInvoiceItem } from '../../shared/use-cases/invoicing/add-invoice-item.ts';
import { closeDuePeriods, closeSubscriptionPeriods } from '../../shared/use-cases/invoicing/close-periods.ts';
import { createOneOffInvoice } from '../../shared/use-cases/invoicing/create-one-off-invoice.ts';
import { deleteInvoiceItem } from '../../shared/use-cases/invoicing/delete-invoice-item.ts';
import { finalizeInvoice } from '../../shared/use-cases/invoicing/finalize-invoice.ts';
import { listInvoiceItems } from '../../shared/use-cases/invoicing/invoice-items.ts';
import { listInvoices } from '../../shared/use-cases/invoicing/invoices.ts';
import { payInvoice } from '../../shared/use-cases/invoicing/pay-invoice.ts';
import { createSubscription, updateSubscription } from '../../shared/use-cases/subscriptions.ts';
import { customerInput, operator } from '../support/fixtures.ts';
import { useTestStore } from '../support/store.ts';
import { streamRecord } from '../support/stream-records.ts';

/**
 * One-time purchases on DynamoDB Local, every amount stated by hand: a Setup price of 49.00 USD
 * (4900) and a Training price of 25.00 USD (2500), next to a Basic plan of 10.00 USD a month billed
 * in arrears.
 */
let store: Awaited<ReturnType<typeof useTestStore>>;
const table = () => config().tableName;
const at = (iso: string) => ({ principal: operator(), requestId: 'one-time', now: new Date(iso) });
const MARCH = '2026-03-01T00:00:00.000Z';
const MID_MARCH = '2026-03-16T12:00:00.000Z';
const AFTER_MARCH = '2026-04-01T00:00:01.000Z';

let productId: string;
let basic: string;
let setup: string;
let training: string;
let euroSetup: string;

beforeAll(async () => {
  store = await useTestStore();
  productId = (await createProduct(table(), { name: 'Attestation API' }, at(MARCH), undefined)).id;
  basic = (
    await createPlan(
      table(),
      {
        product_id: productId,
        name: 'Basic',
        currency: 'USD',
        interval: 'month',
        fee_timing: 'in_arrears',
        total_budget: 10_000,
      },
      at(MARCH),
      undefined,
    )
  ).id;
  await createPrice(table(), { plan_id: basic, model: 'flat', unit_amount: 1000 }, at(MARCH), undefined);
  const oneTime = async (unit_amount: number, currency: string, nickname: string) =>
    (
      await createPrice(
        table(),
        { product_id: productId, model: 'one_time', currency, unit_amount, nickname },
        at(MARCH),
        undefined,
      )
    ).id;
  setup = await oneTime(4900, 'USD', 'Setup');
  training = await oneTime(2500, 'USD', 'Training');
  euroSetup = await oneTime(4500, 'EUR', 'Setup (EUR)');
});

/** A pending one-time item on a subscription, added mid-March with no Idempotency-Key. */
const itemOn = (customerId: string, subscriptionId: string, priceId: string, quantity: number) =>
  addInvoiceItem(
    table(),
    { customer_id: customerId, subscription_id: subscriptionId, price_id: priceId, quantity },
    at(MID_MARCH),
    undefined,
  );

async function subscribed() {
  const customer = await createCustomer(table(), customerInput(), at(MARCH), undefined);
  const subscription = await createSubscription(
    table(),
    { customer_id: customer.id, plan_id: basic },
    at(MARCH),
    undefined,
  );
  return { customer, subscription };
}

const invoicesOf = async (customerId: string): Promise<Invoice[]> =>
  (await listInvoices(table(), { limit: 100, customer_id: customerId }, operator())).data;

const refusal = async (promise: Promise<unknown>) => {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DomainError);
  return error as DomainError;
};

describe('a one-time price', () => {
  it('belongs to its product, is listed by it, and is no part of any plan fee', async () => {
    const ofProduct = await listPrices(table(), { limit: 100, product_id: productId });
    expect(ofProduct.data.map((p) => p.id).sort()).toEqual([setup, training, euroSetup].sort());
    expect(ofProduct.data.find((p) => p.id === setup)).toMatchObject({
      plan_id: null,
      product_id: productId,
      model: 'one_time',
      unit_amount: 4900,
      currency: 'USD',
    });
    expect((await getPlanFee(table(), basic)).fee.fee).toBe(1000);
  });

  it('names a product that exists', async () => {
    const error = await refusal(
      createPrice(
        table(),
        { product_id: 'no-such-product', model: 'one_time', currency: 'USD', unit_amount: 1 },
        at(MARCH),
        undefined,
      ),
    );
    expect(error.fieldErrors).toEqual([{ field: 'product_id', message: 'no such product' }]);
  });
});

describe('a one-time item on the next invoice', () => {
  it("is billed once by the period's close, next to the fee: 1000 + 2 × 4900 = 10800", async () => {
    const { customer, subscription } = await subscribed();
    const item = await itemOn(customer.id, subscription.id, setup, 2);
    expect(item).toMatchObject({
      kind: 'one_time',
      amount: 9800,
      quantity: 2,
      unit_amount: 4900,
      invoice_id: null,
    });
    const pending = await listInvoiceItems(
      table(),
      { subscription_id: subscription.id, limit: 10, pending: 'true' },
      operator(),
    );
    expect(pending.data.map((i) => i.id)).toEqual([item.id]);

    await closeDuePeriods(table(), new Date(AFTER_MARCH));
    await closeDuePeriods(table(), new Date(AFTER_MARCH));
    const invoices = await invoicesOf(customer.id);
    expect(invoices).toHaveLength(1);
    const [cycle] = invoices;
    expect(cycle?.total).toBe(10_800);
    expect(cycle?.lines.find((l) => l.kind === 'one_time')).toMatchObject({
      price_id: setup,
      quantity: '2',
      unit_amount: 4900,
      amount: 9800,
      pending_item_id: item.id,
    });
    const after = await listInvoiceItems(
      table(),
      { subscription_id: subscription.id, limit: 10 },
      operator(),
    );
    expect(after.data).toEqual([{ ...item, invoice_id: cycle?.id }]);
    // Taken: it cannot be deleted any more.
    expect((await refusal(deleteInvoiceItem(table(), item.id, at(AFTER_MARCH)))).kind).toBe(
      'invalid-state-transition',
    );
    const trail = await pageAuditTrail(table(), 'subscription', subscription.id, 100, undefined);
    expect(trail.data.filter((a) => a.entity_id === item.id).map((a) => a.action)).toEqual([
      'invoice_item.created',
    ]);
  });

  it('deleted after a close read it, before the close wrote: that close fails and the item is billed nowhere', async () => {
    const { customer, subscription } = await subscribed();
    const item = await itemOn(customer.id, subscription.id, training, 1);
    // The close reads the subscription and its pending items (the item among them), as draftFor does…
    const read = (await new SubscriptionsRepository(table()).get(subscription.id, true))!;
    const pending = await new SubscriptionsRepository(table()).pendingItems(subscription.id);
    expect(pending.map((p) => p.id)).toEqual([item.id]);
    const fees = await planFeesFor(table(), [basic]);
    const { advanced, bill } = closeCurrentPeriod(read, fees, new Date(AFTER_MARCH));
    const draft = draftInvoice(
      read,
      bill,
      { usage: [], pendingItems: pending, version: advanced.version },
      new Date(AFTER_MARCH),
    );
    // …then the DELETE commits, then the close writes what it drafted.
    expect(await deleteInvoiceItem(table(), item.id, at(MID_MARCH))).toEqual({ id: item.id, deleted: true });
    const audit = auditBy(at(AFTER_MARCH), 'invoice', draft.id, 'invoice.created', null, draft);
    const outcome = await new InvoicesRepository(table()).createDraftAndAdvance(
      draft,
      advanced,
      read.version,
      { invoice: audit, subscription: audit },
      pending,
    );
    expect(outcome).toBe('subscription-changed');
    await closeDuePeriods(table(), new Date(AFTER_MARCH));
    // March's fee only: the deleted item is on no invoice.
    expect((await invoicesOf(customer.id)).map((i) => i.total)).toEqual([1000]);
  });

  it('the 81st item waiting for one invoice is refused, naming subscription_id and saying what to do instead', async () => {
    const { customer, subscription } = await subscribed();
    // One after another: each item moves the subscription to its next version.
    for (let i = 0; i < MAX_PENDING_ITEMS_PER_INVOICE; i++) {
      await itemOn(customer.id, subscription.id, setup, 1);
    }
    const error = await refusal(itemOn(customer.id, subscription.id, setup, 1));
    expect(error).toMatchObject({
      kind: 'conflict',
      fieldErrors: [{ field: 'subscription_id', message: expect.stringMatching(/one-off invoice/) }],
    });
    expect((await new SubscriptionsRepository(table()).pendingItems(subscription.id)).length).toBe(
      MAX_PENDING_ITEMS_PER_INVOICE,
    );
  }, 60_000);

  it('deleted while pending, it is billed by no invoice', async () => {
    const { customer, subscription } = await subscribed();
    const item = await itemOn(customer.id, subscription.id, training, 1);
    const LATER = '2026-03-20T00:00:00.000Z';
    expect(await deleteInvoiceItem(table(), item.id, at(LATER))).toEqual({ id: item.id, deleted: true });
    expect((await refusal(deleteInvoiceItem(table(), item.id, at(LATER)))).kind).toBe('not-found');
    await closeDuePeriods(table(), new Date(AFTER_MARCH));
    const [cycle] = await invoicesOf(customer.id);
    expect(cycle?.total).toBe(1000);
    const trail = await pageAuditTrail(table(), 'subscription', subscription.id, 100, undefined);
    expect(trail.data.filter((a) => a.entity_id === item.id).map((a) => a.action)).toEqual([
      'invoice_item.created',
      'invoice_item.deleted',
    ]);
  });

  it('added while a close was drafting from an older read: that close fails and the next one bills it, once', async () => {
    const { customer, subscription } = await subscribed();
    // The close read the subscription (and its pending items: none) before the item committed.
    const readByTheClose = await new SubscriptionsRepository(table()).get(subscription.id, true);
    await itemOn(customer.id, subscription.id, setup, 2);
    const stale = await closeSubscriptionPeriods(table(), readByTheClose!, at(AFTER_MARCH));
    expect(stale).toEqual({ created: 0, already: 0, skipped: 1 });
    await closeDuePeriods(table(), new Date(AFTER_MARCH));
    const [cycle, ...others] = await invoicesOf(customer.id);
    expect(others).toEqual([]);
    // March's fee in arrears, 1000, and the two Setups, 2 × 4900.
    expect(cycle!.lines.map((l) => [l.kind, l.amount]).sort()).toEqual([
      ['one_time', 9800],
      ['subscription_fee', 1000],
    ]);
  });

  it('goes on the final invoice of a cancel now', async () => {
    const { customer, subscription } = await subscribed();
    await itemOn(customer.id, subscription.id, training, 3);
    await updateSubscription(table(), subscription.id, { cancel_now: true }, undefined, at(MID_MARCH));
    const [final] = await invoicesOf(customer.id);
    expect(final?.billing_reason).toBe('subscription_cancel');
    expect(final?.lines.filter((l) => l.kind === 'one_time').map((l) => l.amount)).toEqual([7500]);
    // Cancelled: it has no next invoice.
    const error = await refusal(itemOn(customer.id, subscription.id, training, 1));
    expect(error.kind).toBe('invalid-state-transition');
  });

  it("is refused in another currency than the subscription's, or for another customer, naming the field", async () => {
    const { customer, subscription } = await subscribed();
    const currency = await refusal(itemOn(customer.id, subscription.id, euroSetup, 1));
    expect(currency.kind).toBe('unprocessable');
    expect(currency.fieldErrors[0]?.field).toBe('price_id');
    const other = await refusal(itemOn('someone-else', subscription.id, setup, 1));
    expect(other.fieldErrors[0]?.field).toBe('customer_id');
    const plan = await refusal(itemOn(customer.id, subscription.id, 'nope', 1));
    expect(plan.fieldErrors[0]).toEqual({ field: 'price_id', message: 'no such price' });
  });
});

describe('a one-off invoice', () => {
  it('is finalized at once, numbered, uses the credit balance, and is paid like any invoice', async () => {
    // Credit of 750 first: 25 → 10 at the middle of March, invoiced at once (billing-rules.md example 3).
    const customer = await createCustomer(table(), customerInput(), at(MARCH), undefined);
    const dear = (
      await createPlan(
        table(),
        { product_id: productId, name: 'Dear', currency: 'USD', interval: 'month', total_budget: 1 },
        at(MARCH),
        undefined,
      )
    ).id;
    const cheap = (
      await createPlan(
        table(),
        { product_id: productId, name: 'Cheap', currency: 'USD', interval: 'month', total_budget: 1 },
        at(MARCH),
        undefined,
      )
    ).id;
    await createPrice(table(), { plan_id: dear, model: 'flat', unit_amount: 2500 }, at(MARCH), undefined);
    await createPrice(table(), { plan_id: cheap, model: 'flat', unit_amount: 1000 }, at(MARCH), undefined);
    const subscription = await createSubscription(
      table(),
      { customer_id: customer.id, plan_id: dear },
      at(MARCH),
      undefined,
    );
    for (const invoice of await invoicesOf(customer.id))
      await finalizeInvoice(table(), invoice.id, at(MARCH));
    await updateSubscription(
      table(),
      subscription.id,
      { plan_id: cheap, proration_behavior: 'always_invoice' },
      undefined,
      at(MID_MARCH),
    );
    const change = (await invoicesOf(customer.id)).find((i) => i.billing_reason === 'subscription_update');
    await finalizeInvoice(table(), change!.id, at(MID_MARCH));
    expect((await getCustomer(table(), customer.id, operator())).credit_balance).toEqual({ USD: 750 });

    const invoice = await createOneOffInvoice(
      table(),
      {
        customer_id: customer.id,
        currency: 'USD',
        items: [
          { price_id: setup, quantity: 3 },
          { price_id: training, quantity: 1, description: 'Onboarding day' },
        ],
      },
      at(MID_MARCH),
      undefined,
    );
    // 3 × 4900 + 2500 = 17200; the 750 of credit pays first: 16450 due.
    expect(invoice).toMatchObject({
      subscription_id: null,
      billing_reason: 'manual',
      status: 'open',
      total: 17_200,
      credit_applied: 750,
      amount_due: 16_450,
      bills_usage: false,
      next_period_start: null,
      due_date: '2026-03-23T12:00:00.000Z',
    });
    // The subscribe invoice was -0001, the change -0002: this is -0003.
    expect(invoice.number?.endsWith('-0003')).toBe(true);
    expect(
      invoice.lines.map((l) => [l.kind, l.price_id, l.quantity, l.unit_amount, l.amount, l.description]),
    ).toEqual([
      ['one_time', setup, '3', 4900, 14_700, 'Setup: 3 × 49.00 USD'],
      ['one_time', training, '1', 2500, 2500, 'Onboarding day'],
    ]);
    expect((await getCustomer(table(), customer.id, operator())).credit_balance).toEqual({ USD: 0 });
    expect((await invoicesOf(customer.id)).map((i) => i.id)).toContain(invoice.id);

    // Overdue and unpaid, it puts no subscription in past_due and fails no close.
    const report = await closeDuePeriods(table(), new Date('2026-03-31T00:00:00.000Z'));
    expect(report).toMatchObject({ failed: 0, past_due: 0 });

    const paid = await payInvoice(
      table(),
      invoice.id,
      { paid_out_of_band: true },
      at('2026-03-31T00:00:00Z'),
    );
    expect(paid).toMatchObject({ status: 'paid', amount_paid: 16_450 });
    const trail = await pageAuditTrail(table(), 'invoice', invoice.id, 100, undefined);
    // (Entries of one moment are in no particular order.)
    expect(trail.data.map((a) => a.action).sort()).toEqual([
      'invoice.created',
      'invoice.finalized',
      'invoice.paid',
      'payment.recorded',
    ]);

    // invoice.paid carries the lines and no subscription; the SmartGateway moves nothing for it.
    const [event] = eventsFromStreamRecord(
      streamRecord({ ...paid, item_type: 'invoice' }, { ...invoice, item_type: 'invoice' }),
    ) as EventEnvelope<InvoicePaidEventData>[];
    expect(event?.type).toBe('invoice.paid');
    expect(event?.schema_version).toBe(3);
    expect(event?.data).toMatchObject({
      subscription_id: null,
      billing_reason: 'manual',
      amount_paid: 16_450,
    });
    expect(event?.data.lines.map((l) => l.amount)).toEqual([14_700, 2500]);
    expect((await applyBillingEvent(event)).action).toBe('ignored');
  });

  it('an Idempotency-Key reused after its record expired, for another purchase, makes another invoice', async () => {
    const customer = await createCustomer(table(), customerInput(), at(MARCH), undefined);
    const keyed = (now: string) => {
      const claim = idempotencyClaim(
        'op',
        'invoices-create',
        `reused-${customer.id}`,
        'h',
        new Date(now),
        86_400,
      );
      return { record: (body: unknown) => ({ claim, response: { status: 201, body } }) };
    };
    const first = await createOneOffInvoice(
      table(),
      { customer_id: customer.id, currency: 'USD', items: [{ price_id: setup, quantity: 1 }] },
      at(MARCH),
      keyed(MARCH),
    );
    // Two days later the key's record has expired: the same key for two Setups is a new purchase.
    const later = '2026-03-03T00:00:00.000Z';
    const second = await createOneOffInvoice(
      table(),
      { customer_id: customer.id, currency: 'USD', items: [{ price_id: setup, quantity: 2 }] },
      at(later),
      keyed(later),
    );
    expect(second.id).not.toBe(first.id);
    expect([first.total, second.total]).toEqual([4900, 9800]);
  });

  it('is refused whole when one line is in another currency or passes 10^12, naming the line', async () => {
    const customer = await createCustomer(table(), customerInput(), at(MARCH), undefined);
    const currency = await refusal(
      createOneOffInvoice(
        table(),
        {
          customer_id: customer.id,
          currency: 'USD',
          items: [
            { price_id: setup, quantity: 1 },
            { price_id: euroSetup, quantity: 1 },
          ],
        },
        at(MARCH),
        undefined,
      ),
    );
    expect(currency.fieldErrors[0]?.field).toBe('items.1.price_id');
    // 1001 × 10^9 = 1.001 × 10^12: one item past the bound.
    const datacenter = await createPrice(
      table(),
      { product_id: productId, model: 'one_time', currency: 'USD', unit_amount: 1_000_000_000 },
      at(MARCH),
      undefined,
    );
    const huge = await refusal(
      createOneOffInvoice(
        table(),
        { customer_id: customer.id, currency: 'USD', items: [{ price_id: datacenter.id, quantity: 1001 }] },
        at(MARCH),
        undefined,
      ),
    );
    expect(huge.fieldErrors[0]).toEqual({
      field: 'items.0.quantity',
      message: 'quantity × unit_amount must be at most 10^12 minor units: at most 1000 of this price',
    });
    expect(await invoicesOf(customer.id)).toEqual([]);
  });
});

describe('the SmartGateway and a one-off purchase', () => {
  it("invoice.paid of a one-off invoice leaves the budget row's period and spend as they were", async () => {
    const { customer, subscription } = await subscribed();
    // The budget row as the subscription's events made it.
    const subscriptionItem = store
      .allItems()
      .then((items) => items.find((i) => i.item_type === 'subscription' && i.id === subscription.id));
    const inputs = eventsFromStreamRecord(streamRecord((await subscriptionItem)!)).flatMap((e) => {
      const mapped = budgetInputOf(e);
      return mapped ? [mapped.input] : [];
    });
    await projectBudget(table(), subscription.id, inputs, new Date(MID_MARCH));
    const projections = new BudgetRepository(table());
    const before = await projections.get(subscription.id);
    expect(budgetRowOf(before!)).toMatchObject({ period_start: MARCH, current_spend: 0 });

    const invoice = await createOneOffInvoice(
      table(),
      { customer_id: customer.id, currency: 'USD', items: [{ price_id: setup, quantity: 1 }] },
      at(MID_MARCH),
      undefined,
    );
    const paid = await payInvoice(table(), invoice.id, { paid_out_of_band: true }, at(MID_MARCH));
    const events = eventsFromStreamRecord(
      streamRecord({ ...paid, item_type: 'invoice' }, { ...invoice, item_type: 'invoice' }),
    );
    expect(events.map((e) => e.type)).toEqual(['invoice.paid']);
    // Not a budget input at all (the fan-out does not queue it), and the sync ignores it.
    for (const e of events) {
      expect(budgetInputOf(e)).toBeUndefined();
      expect((await applyBillingEvent(e)).action).toBe('ignored');
    }
    expect(await projections.get(subscription.id)).toEqual(before);
    expect(await budgetRow(customer.id, subscription.id)).toBeUndefined();
  });
});

async function budgetRow(tenantId: string, subscriptionId: string) {
  const { GetItemCommand } = await import('@aws-sdk/client-dynamodb');
  const { unmarshall } = await import('@aws-sdk/util-dynamodb');
  const { Item } = await store.client.send(
    new GetItemCommand({
      TableName: store.tables.budgets,
      Key: { tenant_id: { S: tenantId }, subscription_id: { S: subscriptionId } },
      ConsistentRead: true,
    }),
  );
  return Item ? unmarshall(Item) : undefined;
}
