import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { config } from '../../shared/config.ts';
import { invoiceDocument, invoiceState } from '../../shared/documents/invoice-document.ts';
import { DomainError } from '../../shared/domain/errors.ts';
import type { Invoice } from '../../shared/domain/invoice.ts';
import { SubscriptionsRepository } from '../../shared/store/subscriptions-repository.ts';
import {
  archivePrice,
  createPlan,
  createPrice,
  createProduct,
  listPrices,
} from '../../shared/use-cases/catalog.ts';
import { createCoupon, redeemCoupon } from '../../shared/use-cases/coupons.ts';
import { createCustomer, getCustomer } from '../../shared/use-cases/customers.ts';
import { addInvoiceItem } from '../../shared/use-cases/invoicing/add-invoice-item.ts';
import { closeDuePeriods } from '../../shared/use-cases/invoicing/close-periods.ts';
import { createOneOffInvoice } from '../../shared/use-cases/invoicing/create-one-off-invoice.ts';
import { finalizeInvoice } from '../../shared/use-cases/invoicing/finalize-invoice.ts';
import { invoiceUsageThreshold } from '../../shared/use-cases/invoicing/invoice-usage-threshold.ts';
import { listInvoices } from '../../shared/use-cases/invoicing/invoices.ts';
import { issueCreditNote } from '../../shared/use-cases/invoicing/issue-credit-note.ts';
import { payInvoice } from '../../shared/use-cases/invoicing/pay-invoice.ts';
import { upcomingInvoice } from '../../shared/use-cases/invoicing/upcoming-invoice.ts';
import { createSubscription, updateSubscription } from '../../shared/use-cases/subscriptions.ts';
import { createTaxRate } from '../../shared/use-cases/tax-rates.ts';
import { ingestUsage } from '../../shared/use-cases/usage.ts';
import {
  type Behavior,
  BillingModel,
  type ModelAddOn,
  type ModelInvoice,
  type ModelPlan,
  type Step,
} from '../model/billing-model.ts';
import { customerInput, operator } from '../support/fixtures.ts';
import { useTestStore } from '../support/store.ts';

/** US cents as a document prints them, written out here apart from the code's formatter. */
const usd = (cents: number): string => {
  const whole = Math.floor(Math.abs(cents) / 100).toLocaleString('en-US');
  return `${cents < 0 ? '-' : ''}${whole}.${String(Math.abs(cents) % 100).padStart(2, '0')}`;
};

/**
 * Every lifecycle a customer can go through, driven through the real use cases on DynamoDB Local
 * and compared, invoice by invoice and line by line, with the independent model of
 * test/model/billing-model.ts (written from docs/billing-rules.md). MODEL_RUNS widens it
 * (`MODEL_RUNS=2000 npx vitest run test/integration/lifecycle-model.test.ts`), MODEL_SEED (with MODEL_PATH) replays one.
 */
const RUNS = Number(process.env.MODEL_RUNS ?? 200);
const SEED = process.env.MODEL_SEED === undefined ? undefined : Number(process.env.MODEL_SEED);
/** With MODEL_SEED, the path fast-check printed replays just the failing lifecycle. */
const PATH = process.env.MODEL_PATH;

const DAY = 86_400_000;

/** What the runs exercised (MODEL_STATS=1 prints it): invoices by reason, refusals, credits. */
const stats = new Map<string, number>();
const tally = (what: string, n = 1) => stats.set(what, (stats.get(what) ?? 0) + n);

/**
 * The catalog every lifecycle shops in: fees that round, both timings, both intervals, a free plan;
 * most plans invoice usage mid-period when it passes their thresholds (progressive billing).
 */
const PLANS: Record<string, ModelPlan> = {
  basic: {
    key: 'basic',
    name: 'Basic',
    fee: 999,
    timing: 'in_advance',
    interval: 'month',
    unit: '0.04',
    budget: 10_000,
    invoiceAt: [2000, 5000],
  },
  pro: {
    key: 'pro',
    name: 'Pro',
    fee: 3001,
    timing: 'in_advance',
    interval: 'month',
    unit: '0.125',
    budget: 50_000,
    invoiceAt: [500, 3000, 9000],
  },
  free: {
    key: 'free',
    name: 'Free',
    fee: 0,
    timing: 'in_advance',
    interval: 'month',
    unit: '0.5',
    budget: 1_000,
    invoiceAt: [100],
  },
  metered: {
    key: 'metered',
    name: 'Metered',
    fee: 2000,
    timing: 'in_arrears',
    interval: 'month',
    unit: '0.25',
    budget: 20_000,
    invoiceAt: [1500],
  },
  scale: {
    key: 'scale',
    name: 'Scale',
    fee: 4500,
    timing: 'in_arrears',
    interval: 'month',
    unit: '0.1',
    budget: 90_000,
    invoiceAt: [1000, 3000, 10_000],
  },
  annual: {
    key: 'annual',
    name: 'Annual',
    fee: 30_000,
    timing: 'in_advance',
    interval: 'year',
    unit: '0.03',
    budget: 500_000,
    invoiceAt: [5000],
  },
  annual_arrears: {
    key: 'annual_arrears',
    name: 'Annual in arrears',
    fee: 24_000,
    timing: 'in_arrears',
    interval: 'year',
    unit: '0.05',
    budget: 400_000,
  },
};
const PLAN_KEYS = Object.keys(PLANS);
/** Add-ons: monthly plans of their own product, a fee per unit of quantity, no usage price. */
const ADD_ONS: Record<string, ModelAddOn> = {
  seats: { key: 'seats', name: 'Seats', fee: 1201, timing: 'in_advance' },
  support: { key: 'support', name: 'Support', fee: 777, timing: 'in_arrears' },
};
/** One-time prices, unit amounts in minor units: a seat, a setup, and one whose 3 units pass 10^12. */
const ONE_TIME: Record<string, number> = { seat: 1299, setup: 49_000, datacenter: 400_000_000_000 };
const ONE_TIME_KEYS = Object.keys(ONE_TIME);
/** The catalog is shared by every run and repriced by some: each run's model starts from its fees now. */
const liveFees = new Map(Object.values(PLANS).map((plan) => [plan.key, plan.fee]));
const catalogNow = (): Record<string, ModelPlan> =>
  Object.fromEntries(
    Object.values(PLANS).map((plan) => [plan.key, { ...plan, fee: liveFees.get(plan.key)! }]),
  );

let store: Awaited<ReturnType<typeof useTestStore>>;
const table = () => config().tableName;
/** Real plan id → model key, and back; a usage line names its price, mapped to its plan. */
const planIds = new Map<string, string>();
const planKeyOfPrice = new Map<string, string>();
const oneTimePriceIds = new Map<string, string>();

beforeAll(async () => {
  store = await useTestStore();
  const setup = { principal: operator(), requestId: 'catalog', now: new Date('2026-01-01T00:00:00Z') };
  const product = await createProduct(table(), { name: 'Lifecycle' }, setup, undefined);
  const addOnProduct = await createProduct(table(), { name: 'Lifecycle add-ons' }, setup, undefined);
  for (const plan of Object.values(PLANS)) {
    const created = await createPlan(
      table(),
      {
        product_id: product.id,
        name: plan.name,
        currency: 'USD',
        interval: plan.interval,
        fee_timing: plan.timing,
        total_budget: plan.budget,
        ...(plan.invoiceAt
          ? { budget_policy: { enforcement: 'hard', thresholds: [], invoice_thresholds: plan.invoiceAt } }
          : {}),
      },
      setup,
      undefined,
    );
    planIds.set(plan.key, created.id);
    if (plan.fee > 0) {
      await createPrice(
        table(),
        { plan_id: created.id, model: 'flat', unit_amount: plan.fee },
        setup,
        undefined,
      );
    }
    const usage = await createPrice(
      table(),
      { plan_id: created.id, model: 'per_unit', metric: 'calls', unit_amount_decimal: plan.unit },
      setup,
      undefined,
    );
    planKeyOfPrice.set(usage.id, plan.key);
  }
  for (const addOn of Object.values(ADD_ONS)) {
    const created = await createPlan(
      table(),
      {
        product_id: addOnProduct.id,
        name: addOn.name,
        currency: 'USD',
        interval: 'month',
        fee_timing: addOn.timing,
        total_budget: 0,
      },
      setup,
      undefined,
    );
    planIds.set(addOn.key, created.id);
    await createPrice(
      table(),
      { plan_id: created.id, model: 'flat', unit_amount: addOn.fee },
      setup,
      undefined,
    );
  }
  for (const [key, unit_amount] of Object.entries(ONE_TIME)) {
    const price = await createPrice(
      table(),
      { product_id: product.id, model: 'one_time', currency: 'USD', unit_amount, nickname: key },
      setup,
      undefined,
    );
    oneTimePriceIds.set(key, price.id);
    planKeyOfPrice.set(price.id, key);
  }
});

// ---- lifecycles --------------------------------------------------------------------------------

/** A step before it has a time and a subscription: `pick` chooses among those that exist then. */
type RawStep =
  | { kind: 'subscribe'; plan: string; trialDays: number }
  | { kind: 'usage'; pick: number; lateness: number; quantity: number }
  | { kind: 'change_plan'; pick: number; plan: string; behavior: Behavior }
  | { kind: 'set_add_on'; pick: number; addOn: string; quantity: number; behavior: Behavior }
  | { kind: 'budget'; pick: number; amount: number }
  | { kind: 'cancel_now'; pick: number; prorate: boolean }
  | { kind: 'cancel_at_period_end'; pick: number; value: boolean }
  | { kind: 'reprice'; plan: string; fee: number }
  /** The upcoming invoice (after a plan change made at once, when `plan`), then the close that drafts it. */
  | { kind: 'preview'; pick: number; plan: string | null }
  | { kind: 'one_time_item'; pick: number; product: string; quantity: number }
  | { kind: 'one_off'; items: { product: string; quantity: number }[] }
  | { kind: 'credit_note'; pick: number }
  | { kind: 'threshold'; pick: number }
  | { kind: 'close' }
  | { kind: 'finalize_all' }
  | { kind: 'pay_all' };

/** How long after the previous step a step comes: a wait, the same millisecond, or exactly when a period ends. */
type When = { wait: number } | { onPeriodEnd: true };
const when: fc.Arbitrary<When> = fc.oneof(
  { weight: 1, arbitrary: fc.constant({ wait: 0 }) },
  { weight: 2, arbitrary: fc.constant({ onPeriodEnd: true as const }) },
  { weight: 6, arbitrary: fc.integer({ min: 1, max: 3_600_000 }).map((wait) => ({ wait })) },
  { weight: 6, arbitrary: fc.integer({ min: 3_600_000, max: 3 * DAY }).map((wait) => ({ wait })) },
  { weight: 8, arbitrary: fc.integer({ min: 3 * DAY, max: 35 * DAY }).map((wait) => ({ wait })) },
);
const pick = fc.nat({ max: 5 });
const oneTimeKey = fc.constantFrom(...ONE_TIME_KEYS);
const quantity = fc.oneof(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 1_000_000 }));
const planKey = fc.constantFrom(...PLAN_KEYS);
const trialDays = fc.oneof(
  { weight: 7, arbitrary: fc.constant(0) },
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 30 }) },
);
const rawStep: fc.Arbitrary<RawStep> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('subscribe' as const), plan: planKey, trialDays }) },
  {
    weight: 30,
    arbitrary: fc.record({
      kind: fc.constant('usage' as const),
      pick,
      // Mostly on time, often hours or days late (across a close), sometimes weeks, or just ahead.
      lateness: fc.oneof(
        { weight: 4, arbitrary: fc.constant(0) },
        { weight: 3, arbitrary: fc.integer({ min: 0, max: 3 * DAY }) },
        { weight: 2, arbitrary: fc.integer({ min: 0, max: 44 * DAY }) },
        { weight: 1, arbitrary: fc.integer({ min: -240_000, max: 0 }) },
      ),
      quantity: fc.integer({ min: 1, max: 100_000 }),
    }),
  },
  {
    weight: 14,
    arbitrary: fc.record({
      kind: fc.constant('change_plan' as const),
      pick,
      plan: planKey,
      behavior: fc.constantFrom<Behavior>('create_prorations', 'create_prorations', 'always_invoice', 'none'),
    }),
  },
  {
    weight: 8,
    arbitrary: fc.record({
      kind: fc.constant('set_add_on' as const),
      pick,
      addOn: fc.constantFrom(...Object.keys(ADD_ONS)),
      quantity: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 4 })),
      behavior: fc.constantFrom<Behavior>('create_prorations', 'create_prorations', 'always_invoice', 'none'),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('budget' as const),
      pick,
      amount: fc.integer({ min: 0, max: 1_000_000 }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('cancel_now' as const), pick, prorate: fc.boolean() }),
  },
  {
    weight: 4,
    arbitrary: fc.record({ kind: fc.constant('cancel_at_period_end' as const), pick, value: fc.boolean() }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('reprice' as const),
      plan: planKey,
      fee: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 50_000 })),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('preview' as const),
      pick,
      // A change to a monthly plan, prorated: its invoice is the period's close.
      plan: fc.option(fc.constantFrom('basic', 'pro', 'free', 'metered', 'scale')),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('one_time_item' as const),
      pick,
      product: oneTimeKey,
      quantity,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('one_off' as const),
      items: fc.array(fc.record({ product: oneTimeKey, quantity }), { minLength: 1, maxLength: 3 }),
    }),
  },
  { weight: 16, arbitrary: fc.record({ kind: fc.constant('threshold' as const), pick }) },
  { weight: 14, arbitrary: fc.constant({ kind: 'close' as const }) },
  { weight: 8, arbitrary: fc.constant({ kind: 'finalize_all' as const }) },
  { weight: 5, arbitrary: fc.constant({ kind: 'pay_all' as const }) },
  { weight: 8, arbitrary: fc.record({ kind: fc.constant('credit_note' as const), pick }) },
);
const lifecycle = fc.record({
  first: fc.record({ plan: planKey, trialDays }),
  /** After everything is paid, one invoice is credited whole (when one is left to credit). */
  lastCredit: pick,
  /** Where the lifecycle starts within its slot of time: any millisecond of a year. */
  offset: fc.integer({ min: 0, max: 365 * DAY }),
  /** The customer's one tax rate, if any: [percentage, in ten-thousandths], added or inclusive. */
  tax: fc.option(
    fc.record({
      percentage: fc.constantFrom(
        ['8.875', 88_750n],
        ['19', 190_000n],
        ['0.5', 5_000n],
        ['100', 1_000_000n],
      ) as fc.Arbitrary<[string, bigint]>,
      inclusive: fc.boolean(),
    }),
    { nil: null },
  ),
  /** The customer's one coupon, if any: a percent or an amount off, once, for 2 periods, or forever. */
  coupon: fc.option(
    fc.record({
      off: fc.oneof(
        fc.constantFrom(['20', 200_000n], ['12.5', 125_000n], ['100', 1_000_000n]).map(([text, units]) => ({
          percent: [text, units] as [string, bigint],
        })),
        fc.constantFrom(1, 150, 100_000).map((amount) => ({ amount })),
      ),
      periods: fc.constantFrom(1, 2, null),
    }),
    { nil: null },
  ),
  raw: fc.array(fc.tuple(when, rawStep), { minLength: 3, maxLength: 18 }),
});

type Lifecycle = typeof lifecycle extends fc.Arbitrary<infer T> ? T : never;

/**
 * Each run lives in its own stretch of time, earlier than every run before it, so no run's close
 * ever reaches another run's subscriptions (their periods all end later): runs share one table.
 */
let slot = 0;
const SLOT_YEARS = 3;
const slotStart = () => Date.UTC(9500 - SLOT_YEARS * ++slot, 0, 1);

/**
 * The step a raw step becomes after `previous`, given how many subscriptions exist and where the
 * model says their periods end (a step "on a period end" lands exactly on it, if it is still ahead).
 */
function stepOf(
  raw: RawStep,
  timing: When,
  previous: number,
  state: { subscriptions: number; keys: number },
  model: BillingModel,
): Step {
  const sub = 'pick' in raw ? raw.pick % state.subscriptions : 0;
  const periodEnd = 'onPeriodEnd' in timing ? model.periodEndOf(sub) : undefined;
  const at =
    periodEnd !== undefined && periodEnd >= previous
      ? periodEnd
      : previous + ('wait' in timing ? timing.wait : 1);
  switch (raw.kind) {
    case 'subscribe':
      state.subscriptions++;
      return { ...raw, at };
    case 'usage':
      return {
        kind: 'usage',
        at,
        sub,
        timestamp: at - raw.lateness,
        quantity: raw.quantity,
        key: `u${++state.keys}`,
      };
    case 'one_off':
      // Its invoice is keyed by its moment: two never share one.
      return { ...raw, at: Math.max(at, previous + 1) };
    case 'threshold':
      // A threshold invoice bills up to its moment: two never share one.
      return { kind: 'threshold', at: Math.max(at, previous + 1), sub };
    case 'change_plan':
    case 'set_add_on':
    case 'budget':
    case 'cancel_now':
    case 'one_time_item':
    case 'cancel_at_period_end': {
      const { pick: _pick, ...rest } = raw;
      return { ...rest, at, sub } as Step;
    }
    case 'preview':
      throw new Error('A preview is driven by previewThenClose, not as a step of the model');
    default:
      return { ...raw, at };
  }
}

// ---- driving the real service ------------------------------------------------------------------

const iso = (ms: number) => new Date(ms).toISOString();
const keyOf = (sub: string, reason: string, start: string, end: string) => `${sub}|${reason}|${start}|${end}`;

/** Every invoice's period end by id, as last listed: a threshold credit names the invoice it credits. */
const periodEnds = new Map<string, string>();

async function allInvoices(customerId: string): Promise<Invoice[]> {
  const invoices: Invoice[] = [];
  let cursor: string | undefined;
  do {
    const page = await listInvoices(table(), { limit: 100, cursor, customer_id: customerId }, operator());
    invoices.push(...page.data);
    cursor = page.next_cursor ?? undefined;
  } while (cursor);
  for (const invoice of invoices) periodEnds.set(invoice.id, invoice.period_end);
  return invoices;
}

/** Runs one step on the service; true when it was done, false when refused with a 4xx problem. */
async function drive(
  step: Step,
  context: { customerId: string; subscriptionIds: string[]; run: number },
  /** For finalize_all and pay_all: the invoices the model acts on, in its order. */
  targets: { key: string; lines: string[] }[],
): Promise<boolean> {
  const caller = { principal: operator(), requestId: `lifecycle-${context.run}`, now: new Date(step.at) };
  const refused = (error: unknown) => {
    if (error instanceof DomainError && error.kind !== 'not-implemented') return false;
    throw error;
  };
  const patch = (body: Parameters<typeof updateSubscription>[2]) =>
    updateSubscription(
      table(),
      context.subscriptionIds[(step as { sub: number }).sub]!,
      body,
      undefined,
      caller,
    ).then(() => true, refused);
  switch (step.kind) {
    case 'subscribe': {
      const subscription = await createSubscription(
        table(),
        { customer_id: context.customerId, plan_id: planIds.get(step.plan)!, trial_days: step.trialDays },
        caller,
        undefined,
      );
      context.subscriptionIds.push(subscription.id);
      return true;
    }
    case 'usage': {
      const outcome = await ingestUsage(
        table(),
        {
          records: [
            {
              subscription_id: context.subscriptionIds[step.sub],
              metric: 'calls',
              quantity: step.quantity,
              timestamp: iso(step.timestamp),
              idempotency_key: `${context.run}-${step.key}`,
            },
          ],
          batch: false,
        },
        caller,
      );
      return outcome.results[0]?.status === 'accepted';
    }
    case 'change_plan':
      return patch({ plan_id: planIds.get(step.plan)!, proration_behavior: step.behavior });
    case 'set_add_on': {
      // Every item it holds now, with this add-on's quantity set (appended when new, left out at 0).
      const current = await new SubscriptionsRepository(table()).get(
        context.subscriptionIds[step.sub]!,
        true,
      );
      const addOnId = planIds.get(step.addOn)!;
      const items = current!.items
        .filter((item) => item.quantity > 0)
        .map((item) => ({
          plan_id: item.plan_id,
          quantity: item.plan_id === addOnId ? step.quantity : item.quantity,
        }));
      if (!items.some((item) => item.plan_id === addOnId))
        items.push({ plan_id: addOnId, quantity: step.quantity });
      return patch({ items: items.filter((item) => item.quantity > 0), proration_behavior: step.behavior });
    }
    case 'budget':
      return patch({ total_budget: step.amount });
    case 'cancel_now':
      return patch({ cancel_now: true, prorate: step.prorate });
    case 'cancel_at_period_end':
      return patch({ cancel_at_period_end: step.value });
    case 'reprice': {
      await reprice(step.plan, step.fee, caller);
      return true;
    }
    case 'one_time_item':
      return addInvoiceItem(
        table(),
        {
          customer_id: context.customerId,
          subscription_id: context.subscriptionIds[step.sub]!,
          price_id: oneTimePriceIds.get(step.product)!,
          quantity: step.quantity,
        },
        caller,
        undefined,
      ).then(() => true, refused);
    case 'one_off':
      return createOneOffInvoice(
        table(),
        {
          customer_id: context.customerId,
          currency: 'USD',
          items: step.items.map((i) => ({ price_id: oneTimePriceIds.get(i.product)!, quantity: i.quantity })),
        },
        caller,
        undefined,
      ).then(() => true, refused);
    case 'threshold':
      // The invoicer's answer says what it did; whether it had to, the invoices compared at the end say.
      await invoiceUsageThreshold(table(), context.subscriptionIds[step.sub]!, caller);
      return true;
    case 'close':
      await closeDuePeriods(table(), caller.now);
      return true;
    case 'finalize_all':
    case 'pay_all': {
      // In the model's order (its sequence of numbers and of credit use), found by what they bill.
      const pool = await allInvoices(context.customerId);
      for (const { key, lines } of targets) {
        const invoice = claim(pool, key, lines);
        if (!invoice) throw new Error(`The service has no invoice ${key} to ${step.kind}`);
        const expectedStatus = step.kind === 'finalize_all' ? 'draft' : 'open';
        if (invoice.status !== expectedStatus) {
          throw new Error(
            `The model has ${key} ${expectedStatus}; the service has it ${invoice.status}: ${JSON.stringify({ total: invoice.total, amount_due: invoice.amount_due, lines: realLines(invoice) })}`,
          );
        }
        if (step.kind === 'finalize_all') await finalizeInvoice(table(), invoice.id, caller);
        else await payInvoice(table(), invoice.id, { paid_out_of_band: true }, caller);
      }
      return true;
    }
    case 'credit_note': {
      // The whole of the invoice the model credits (none finalized yet: nothing to credit).
      const [target] = targets;
      if (!target) return false;
      const invoice = claim(await allInvoices(context.customerId), target.key, target.lines);
      if (!invoice) throw new Error(`The service has no invoice ${target.key} to credit`);
      return issueCreditNote(table(), invoice.id, { reason: 'order_change' }, caller).then(
        () => true,
        refused,
      );
    }
  }
}

/** The documented way to change a fee: archive the plan's flat price, create its successor. */
async function reprice(key: string, fee: number, caller: Parameters<typeof archivePrice>[2]): Promise<void> {
  const planId = planIds.get(key)!;
  const prices = await listPrices(table(), { limit: 100, plan_id: planId });
  for (const price of prices.data.filter((p) => p.active && p.model === 'flat')) {
    await archivePrice(table(), price.id, caller, undefined);
  }
  if (fee > 0)
    await createPrice(table(), { plan_id: planId, model: 'flat', unit_amount: fee }, caller, undefined);
  liveFees.set(key, fee);
}

const modelKey = (invoice: ModelInvoice, context: { subscriptionIds: string[] }) =>
  keyOf(
    invoice.sub === null ? 'none' : context.subscriptionIds[invoice.sub]!,
    invoice.reason,
    iso(invoice.periodStart),
    iso(invoice.periodEnd),
  );
const realKey = (invoice: Invoice) =>
  keyOf(invoice.subscription_id ?? 'none', invoice.billing_reason, invoice.period_start, invoice.period_end);

/**
 * The service's invoice that stands for the model's: by subscription, reason and stretch, and where
 * two changes in one millisecond drafted two such invoices, by their lines as well. Each is taken
 * from the pool once.
 */
function claim(pool: Invoice[], key: string, lines: string[]): Invoice | undefined {
  const same = pool.filter((i) => realKey(i) === key);
  const wanted = JSON.stringify(lines);
  const invoice = same.length > 1 ? same.find((i) => JSON.stringify(realLines(i)) === wanted) : same[0];
  if (invoice) pool.splice(pool.indexOf(invoice), 1);
  return invoice;
}

/** Lines as comparable text, order-free: kind, amount, plan, stretch, quantity. */
const modelLines = (invoice: ModelInvoice) =>
  [...invoice.fixed, ...invoice.usage]
    .map((l) => `${l.kind} ${l.amount} ${l.plan} ${iso(l.from)} ${iso(l.to)} ${l.quantity ?? '-'}`)
    .sort();
const realLines = (invoice: Invoice) =>
  invoice.lines
    .map((l) => {
      const plan =
        l.kind === 'usage' || l.kind === 'one_time' || l.kind === 'threshold_usage'
          ? planKeyOfPrice.get(l.price_id ?? '')
          : l.kind === 'threshold_credit'
            ? `credit@${Date.parse(periodEnds.get(l.credited_invoice_id ?? '') ?? '')}`
            : l.kind === 'discount'
              ? 'coupon'
              : [...planIds].find(([, id]) => id === l.plan_id)?.[0];
      return `${l.kind} ${l.amount} ${plan} ${l.period_start} ${l.period_end} ${l.quantity ?? '-'}`;
    })
    .sort();

async function runLifecycle(input: Lifecycle): Promise<void> {
  const run = slot;
  const start = slotStart() + input.offset;
  // The catalog as every run starts: fees repriced by an earlier run are set back.
  for (const plan of Object.values(PLANS)) {
    if (liveFees.get(plan.key) !== plan.fee) {
      await reprice(plan.key, plan.fee, { principal: operator(), requestId: 'reset', now: new Date(start) });
    }
  }
  const setUp = { principal: operator(), requestId: 'c', now: new Date(start) };
  const rate = input.tax
    ? await createTaxRate(
        table(),
        { display_name: 'Tax', percentage: input.tax.percentage[0], inclusive: input.tax.inclusive },
        setUp,
        undefined,
      )
    : undefined;
  const coupon = input.coupon
    ? await createCoupon(
        table(),
        {
          name: 'Coupon',
          ...('percent' in input.coupon.off
            ? { percent_off: input.coupon.off.percent[0] }
            : { amount_off: input.coupon.off.amount, currency: 'USD' }),
          ...(input.coupon.periods === null
            ? { duration: 'forever' }
            : input.coupon.periods === 1
              ? { duration: 'once' }
              : { duration: 'repeating', duration_in_periods: input.coupon.periods }),
        },
        setUp,
        undefined,
      )
    : undefined;
  const model = new BillingModel(
    catalogNow(),
    ADD_ONS,
    ONE_TIME,
    input.tax ? { units: input.tax.percentage[1], inclusive: input.tax.inclusive } : null,
    input.coupon
      ? {
          percentUnits: 'percent' in input.coupon.off ? input.coupon.off.percent[1] : null,
          amountOff: 'amount' in input.coupon.off ? input.coupon.off.amount : null,
          periods: input.coupon.periods,
        }
      : null,
  );
  const customer = await createCustomer(
    table(),
    { ...customerInput(), ...(rate ? { tax_rate_ids: [rate.id] } : {}) },
    setUp,
    undefined,
  );
  if (coupon) await redeemCoupon(table(), customer.id, { coupon_id: coupon.id }, setUp, undefined);
  const context = { customerId: customer.id, subscriptionIds: [] as string[], run };
  const state = { subscriptions: 1, keys: 0 };
  const first: Step = {
    kind: 'subscribe',
    at: start,
    plan: input.first.plan,
    trialDays: input.first.trialDays,
  };
  const steps: Step[] = [first];
  let previous = start;
  const take = async (step: Step) => {
    const wanted = step.kind === 'finalize_all' ? 'draft' : step.kind === 'pay_all' ? 'open' : undefined;
    const credited = step.kind === 'credit_note' ? model.creditNoteTarget(step.pick) : undefined;
    const targets = (credited ? [credited] : model.invoices.filter((i) => i.status === wanted)).map((i) => ({
      key: modelKey(i, context),
      lines: modelLines(i),
    }));
    const expected = model.apply(step);
    const done = await drive(step, context, targets);
    tally(`${step.kind} ${expected.ok ? 'done' : `refused (${expected.why})`}`);
    expect(
      done,
      `step ${steps.length - 1} (${step.kind} at ${iso(step.at)}) of ${JSON.stringify(steps)}: the model says ${JSON.stringify(expected)}`,
    ).toBe(expected.ok);
    previous = step.at;
    return expected.ok;
  };
  await take(first);
  /**
   * "A preview equals the invoice the close then produces when nothing changed in between": the
   * upcoming invoice now (with the proposed plan change, made right after at the same moment), then
   * the close at the period's end, whose invoice for that period must be the preview.
   */
  const previewThenClose = async (raw: Extract<RawStep, { kind: 'preview' }>) => {
    const sub = raw.pick % state.subscriptions;
    const id = context.subscriptionIds[sub]!;
    const endBefore = model.periodEndOf(sub);
    // A millisecond after the step before: two changes in one millisecond draft invoices the
    // comparison cannot tell apart (same subscription, reason and zero-length stretch).
    const at = previous + 1;
    const caller = { principal: operator(), requestId: `preview-${run}`, now: new Date(at) };
    const shown = await upcomingInvoice(
      table(),
      id,
      raw.plan ? { plan_id: planIds.get(raw.plan)!, proration_behavior: 'create_prorations' } : {},
      caller,
    ).catch((error: unknown) => {
      if (error instanceof DomainError) return undefined;
      throw error;
    });
    let accepted = true;
    if (raw.plan) {
      const change: Step = {
        kind: 'change_plan',
        at,
        sub,
        plan: raw.plan,
        behavior: 'create_prorations',
      };
      steps.push(change);
      accepted = await take(change);
    }
    // Refused: a canceled subscription; a change the PATCH refuses too; a change while the period
    // has ended and waits for its close (the PATCH closes it first, the preview says to wait).
    expect(shown === undefined, `preview of ${id} at ${iso(at)} of ${JSON.stringify(steps)}`).toBe(
      endBefore === undefined || (raw.plan !== null && (!accepted || endBefore <= at)),
    );
    const end = model.periodEndOf(sub);
    if (!shown) return;
    // A change to another interval is invoiced at once: that invoice is the one previewed.
    const atOnce = shown.billing_reason === 'subscription_update';
    if (!atOnce) {
      if (end === undefined) return;
      const close: Step = { kind: 'close', at: Math.max(end, at) };
      steps.push(close);
      await take(close);
    }
    const drafted = (await allInvoices(customer.id)).find(
      (i) =>
        i.subscription_id === id &&
        i.billing_reason === shown.billing_reason &&
        i.period_start === shown.period_start &&
        i.period_end === shown.period_end,
    );
    expect(drafted, `the close drafted the previewed invoice of ${id}`).toBeDefined();
    // The preview is discounted and taxed as finalizing now would; the draft is not yet.
    const previewed = { ...shown, lines: shown.lines.filter((l) => l.kind !== 'discount') };
    expect(realLines(previewed as unknown as Invoice), 'preview lines').toEqual(realLines(drafted!));
    const discounts = shown.lines.reduce((sum, l) => sum + (l.kind === 'discount' ? l.amount : 0), 0);
    expect(shown.subtotal - discounts, 'preview subtotal before its discounts').toBe(drafted!.total);
    if (!input.tax && !input.coupon) expect(shown.total, 'preview total').toBe(drafted!.total);
    tally(`preview ${raw.plan ? 'of a change ' : ''}matched the close`);
  };
  for (const [timing, raw] of input.raw) {
    if (raw.kind === 'preview') {
      await previewThenClose(raw);
      continue;
    }
    const step = stepOf(raw, timing, previous, state, model);
    steps.push(step);
    await take(step);
  }
  // Settle everything at the end: close what has ended, finalize, pay; then credit one paid invoice.
  for (const kind of ['close', 'finalize_all', 'pay_all'] as const) {
    const step: Step = { kind, at: previous + 1 };
    steps.push(step);
    await take(step);
  }
  const lastCredit: Step = { kind: 'credit_note', at: previous + 1, pick: input.lastCredit };
  steps.push(lastCredit);
  await take(lastCredit);

  const real = await allInvoices(customer.id);
  expect(real.map(realKey).sort(), 'the invoices the service drafted').toEqual(
    model.invoices.map((i) => modelKey(i, context)).sort(),
  );
  const pool = [...real];
  for (const expected of model.invoices) {
    const key = modelKey(expected, context);
    const invoice = claim(pool, key, modelLines(expected));
    expect(invoice, `an invoice ${key} with the lines ${JSON.stringify(modelLines(expected))}`).toBeDefined();
    if (!invoice) return;
    expect(realLines(invoice), `lines of ${key}`).toEqual(modelLines(expected));
    expect(
      {
        status: invoice.status,
        total: invoice.total,
        tax: invoice.tax,
        credit_applied: invoice.credit_applied,
        credited_to_balance: invoice.credited_to_balance,
        amount_due: invoice.amount_due,
        amount_paid: invoice.amount_paid,
        pre_payment_credit_notes_amount: invoice.pre_payment_credit_notes_amount,
        post_payment_credit_notes_amount: invoice.post_payment_credit_notes_amount,
        credit_note_count: invoice.credit_note_count,
        number: invoice.number,
        next_period_start: invoice.next_period_start,
        next_period_end: invoice.next_period_end,
      },
      `invoice ${key}`,
    ).toEqual({
      status: expected.status,
      total: expected.total,
      tax: expected.tax,
      credit_applied: expected.creditApplied,
      credited_to_balance: expected.creditedToBalance,
      amount_due: expected.amountDue,
      amount_paid: expected.amountPaid,
      pre_payment_credit_notes_amount: expected.preCredited,
      post_payment_credit_notes_amount: expected.postCredited,
      credit_note_count: expected.creditNotes,
      number:
        expected.sequence === null
          ? null
          : `${customer.invoice_prefix}-${String(expected.sequence).padStart(4, '0')}`,
      next_period_start: expected.next ? iso(expected.next.start) : null,
      next_period_end: expected.next ? iso(expected.next.end) : null,
    });
    if (invoice.status !== 'draft') {
      // The invoice as a document (what its PDF and hosted page print) says what the model says.
      const document = invoiceDocument(invoice, customer, []);
      const row = (label: string) => document.totals.find((t) => t.label === label)?.amount;
      expect(
        { total: row('Total'), due: row('Amount due'), lines: document.lines.map((l) => l.amount) },
        `document of ${key}`,
      ).toEqual({
        total: usd(expected.total),
        due: usd(Math.max(expected.total, 0) - expected.creditApplied),
        lines: invoice.lines.map((line) => usd(line.amount)),
      });
      const now = invoiceState(invoice).rows.find((r) => r.label === 'Amount due now')?.amount;
      expect(now, `amount due now of ${key}`).toBe(
        usd(['open', 'uncollectible'].includes(expected.status) ? expected.amountDue : 0),
      );
      tally('invoice documents compared');
    }
  }
  for (const invoice of model.invoices) {
    tally(`invoice ${invoice.reason}`);
    if (invoice.creditedToBalance > 0) tally('invoice leaving credit');
    if (invoice.creditApplied > 0) tally('invoice paid partly by credit');
    if (invoice.creditNotes > 0)
      tally(`invoice credited ${invoice.postCredited > 0 ? 'after payment' : 'before payment'}`);
    tally('invoice lines', invoice.fixed.length + invoice.usage.length);
    tally('threshold credit lines', invoice.usage.filter((l) => l.kind === 'threshold_credit').length);
    if (invoice.tax !== 0) tally(`invoice taxed ${input.tax?.inclusive ? 'inclusive' : 'exclusive'}`);
    if (invoice.usage.some((l) => l.kind === 'discount')) tally('invoice discounted');
    if (invoice.usage.some((l) => l.kind === 'discount') && invoice.fixed.some((l) => l.amount < 0))
      tally('invoice discounted net of a credit');
  }
  const balance = (await getCustomer(table(), customer.id, operator())).credit_balance.USD ?? 0;
  expect(balance, 'credit balance').toBe(model.balance);
  // Conservation: what was paid, less the credit still held, is exactly what was invoiced less what
  // credit notes gave back.
  const paid = real.reduce((sum, i) => sum + i.amount_paid, 0);
  expect(paid - balance, 'paid − credit held').toBe(model.invoiced() - model.creditNotesTotal);
  // The timeline oracle: the fees owed per period, from what was billed when, are exactly the fee and
  // proration lines invoiced plus the items still pending, on the service as in the model.
  const pending = await Promise.all(
    context.subscriptionIds.map((id) => new SubscriptionsRepository(table()).pendingItems(id)),
  );
  const oneTime = (kind: string) => kind === 'one_time';
  const realFees =
    real
      .flatMap((i) => i.lines)
      .reduce((sum, l) => sum + (l.kind === 'subscription_fee' || l.kind === 'proration' ? l.amount : 0), 0) +
    pending.flat().reduce((sum, item) => sum + (oneTime(item.kind) ? 0 : item.amount), 0);
  // Every one-time purchase accepted is on exactly one invoice, or still pending, at quantity × unit.
  const realOneTime =
    real.flatMap((i) => i.lines).reduce((sum, l) => sum + (oneTime(l.kind) ? l.amount : 0), 0) +
    pending.flat().reduce((sum, item) => sum + (oneTime(item.kind) ? item.amount : 0), 0);
  expect(realOneTime, 'one-time purchases invoiced or pending').toBe(model.oneTimeSold);
  expect(model.feesInvoiced() + model.pendingTotal(), 'the model against its own timeline').toBe(
    model.feesOwed(),
  );
  expect(
    realFees,
    `the service against the timeline: ${JSON.stringify({ lines: real.map(realLines), pending: pending.flat().map((p) => [p.kind, p.amount, p.plan_id, p.period_start, p.period_end]) })}`,
  ).toBe(model.feesOwed());
}

describe('every invoice of every lifecycle is what the documented rules say it must be', () => {
  it(
    `${RUNS} generated lifecycles, each compared with the independent model to the minor unit`,
    async () => {
      await fc.assert(fc.asyncProperty(lifecycle, runLifecycle), {
        numRuns: RUNS,
        ...(SEED === undefined ? {} : { seed: SEED }),
        ...(PATH === undefined ? {} : { path: PATH }),
      });
      if (process.env.MODEL_STATS)
        console.log(
          [...stats]
            .sort()
            .map(([k, v]) => `${v}\t${k}`)
            .join('\n'),
        );
      expect(store.tables.billing).toBeTruthy();
    },
    60 * 60_000,
  );
});
