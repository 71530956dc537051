import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  applyBudgetInputs,
  type BudgetInput,
  type BudgetProjection,
  budgetRowOf,
  emptyProjection,
  forecast,
  ledgerId,
  ledgersNeeded,
  type SpendLedger,
} from '../../../shared/domain/budget.ts';
import type { BudgetThreshold } from '../../../shared/domain/budget-policy.ts';
import type { Price } from '../../../shared/domain/catalog.ts';

const DAY = 86_400_000;
const PERIODS = [
  '2026-01-01T00:00:00.000Z',
  '2026-02-01T00:00:00.000Z',
  '2026-03-01T00:00:00.000Z',
  '2026-04-01T00:00:00.000Z',
];
const NOW = '2026-06-01T00:00:00.000Z';

const perUnit = (id: string, unit: string): Price => ({
  id,
  plan_id: 'plan_1',
  currency: 'USD',
  model: 'per_unit',
  metric: id,
  unit_amount: null,
  unit_amount_decimal: unit,
  package_size: null,
  tiers: null,
  nickname: null,
  active: true,
  created_at: PERIODS[0]!,
  updated_at: PERIODS[0]!,
  version: 1,
});

/** Two metrics, one at a whole-cent price and one at a fraction of a cent. */
const PRICES = [perUnit('calls', '2'), perUnit('tokens', '0.25')];

/**
 * The truth the events report: per period, metric and shard, a growing counter; the model says
 * what a projection that has seen all of it must hold, computed from the counters directly
 * (quantity × unit price rounded half up, per metric), never from the code's own arithmetic.
 */
const truthArb = fc.array(
  fc.record({
    period: fc.integer({ min: 0, max: 2 }),
    metric: fc.integer({ min: 0, max: 1 }),
    shard: fc.integer({ min: 0, max: 3 }),
    increments: fc.array(fc.integer({ min: 1, max: 5000 }), { minLength: 1, maxLength: 4 }),
  }),
  { maxLength: 12 },
);

function eventsOf(truth: { period: number; metric: number; shard: number; increments: number[] }[]) {
  const counters = new Map<string, number>();
  const inputs: BudgetInput[] = [];
  for (const t of truth) {
    const key = `${t.period}/${t.metric}/${t.shard}`;
    for (const increment of t.increments) {
      const total = (counters.get(key) ?? 0) + increment;
      counters.set(key, total);
      inputs.push({
        kind: 'usage',
        at: new Date(Date.parse(PERIODS[t.period]!) + DAY).toISOString(),
        usage: {
          period_start: PERIODS[t.period]!,
          period_end: PERIODS[t.period + 1]!,
          metric: PRICES[t.metric]!.metric!,
          price: PRICES[t.metric]!,
          shard: t.shard,
          quantity: String(total),
        },
      });
    }
  }
  return { inputs, counters };
}

/** Half up: units × unit price in hundredths of a cent for tokens (0.25), whole cents for calls (2). */
function modelSpend(counters: Map<string, number>, period: number): number {
  let calls = 0;
  let tokens = 0;
  for (const [key, total] of counters) {
    const [p, metric] = key.split('/').map(Number);
    if (p !== period) continue;
    if (metric === 0) calls += total;
    else tokens += total;
  }
  return calls * 2 + Math.floor((tokens * 25 + 50) / 100);
}

const subscriptionInput = (
  version: number,
  period: number,
  thresholds: BudgetThreshold[] = [],
  invoiceThresholds: number[] = [],
): BudgetInput => ({
  kind: 'subscription',
  version,
  at: PERIODS[period]!,
  subscription: {
    tenant_id: 'cus_1',
    plan_id: `plan_v${version}`,
    total_budget: 100_000,
    currency: 'USD',
    status: 'active',
    cancel_at_period_end: false,
    period_start: PERIODS[period]!,
    period_end: PERIODS[period + 1]!,
    budget_policy: { enforcement: 'hard', thresholds, invoice_thresholds: invoiceThresholds },
  },
});

/** Applies inputs in batches as the projector does, carrying ledgers as the store would. */
function project(inputs: BudgetInput[], batchSize: number) {
  let projection: BudgetProjection = emptyProjection('sub_1', NOW);
  const store = new Map<string, SpendLedger>();
  let changes = 0;
  for (let i = 0; i < inputs.length; i += batchSize) {
    const batch = inputs.slice(i, i + batchSize);
    const needed = new Map(
      ledgersNeeded(batch).flatMap((id) => (store.has(id) ? [[id, store.get(id)!]] : [])),
    );
    const result = applyBudgetInputs(projection, needed, batch, NOW);
    if (!result) continue;
    expect(result.projection.sequence).toBe(projection.sequence + 1);
    changes++;
    projection = result.projection;
    for (const ledger of result.ledgers)
      store.set(ledgerId(ledger.period_start, ledger.metric, ledger.price.id), ledger);
  }
  return { projection, store, changes };
}

describe('the budget projection against a model of the counters', () => {
  it('in any order, duplicated, in any batches: the newest period named, its spend exact, every crossed threshold once', () => {
    fc.assert(
      fc.property(
        truthArb,
        fc.integer({ min: 1, max: 10 }),
        fc.integer({ min: 0, max: 2 }),
        fc.integer(),
        (truth, batchSize, subscriptionPeriod, seed) => {
          const { inputs, counters } = eventsOf(truth);
          const thresholds: BudgetThreshold[] = [{ percent: 1 }, { percent: 5 }, { amount: 20_000 }];
          const invoiceAt = [1_500, 8_000, 30_000];
          const all = [
            ...inputs,
            subscriptionInput(1, 0, thresholds, invoiceAt),
            subscriptionInput(2, subscriptionPeriod, thresholds, invoiceAt),
          ];
          // Delivered at least once each, in any order (different stream shards reach the queue apart).
          const delivered = fc.sample(fc.shuffledSubarray([...all, ...all], { minLength: all.length * 2 }), {
            seed,
            numRuns: 1,
          })[0]!;
          const { projection, store } = project(delivered, batchSize);
          const named = [subscriptionPeriod, ...truth.map((t) => t.period)];
          const finalPeriod = Math.max(...named);
          expect(projection.period_start).toBe(PERIODS[finalPeriod]);
          expect(projection.version).toBe(2);
          expect(projection.plan_id).toBe('plan_v2');
          const spend = modelSpend(counters, finalPeriod);
          expect(projection.spend).toBe(String(spend));
          const row = budgetRowOf(projection)!;
          expect(row.current_spend).toBe(spend);
          expect(row.remaining).toBe(Math.max(0, 100_000 - spend));
          // Per-unit spend only grows, so what is crossed is what the final spend reaches.
          const expected = ['1%', '5%', '20000'].filter(
            (_, i) => spend > 0 && spend >= [1_000, 5_000, 20_000][i]!,
          );
          expect([...projection.crossed].sort()).toEqual(expected.sort());
          expect(new Set(projection.crossed).size).toBe(projection.crossed.length);
          // The highest invoice threshold the final spend has passed (progressive billing's trigger).
          const passed = invoiceAt.filter((amount) => spend >= amount);
          expect(projection.invoice_threshold).toBe(passed.length > 0 ? Math.max(...passed) : null);
          // Every ledger of the final period holds each shard's largest total (a period the projection
          // has left takes no more usage: it is billed on its invoice).
          for (const ledger of [...store.values()].filter((l) => l.period_start === PERIODS[finalPeriod])) {
            for (const [shard, quantity] of Object.entries(ledger.shards)) {
              const period = PERIODS.indexOf(ledger.period_start);
              const metric = PRICES.findIndex((p) => p.id === ledger.price.id);
              expect(Number(quantity)).toBe(counters.get(`${period}/${metric}/${shard}`));
            }
          }
          // Everything again changes nothing.
          const again = applyBudgetInputs(
            projection,
            new Map([...store].filter(([id]) => ledgersNeeded(all).includes(id))),
            all,
            NOW,
          );
          expect(again).toBeUndefined();
        },
      ),
      { numRuns: Number(process.env.PROPERTY_RUNS ?? 300) },
    );
  });

  it('a new period starts with nothing spent or crossed, and late usage of the old one is not counted', () => {
    const usage = (period: number, quantity: string): BudgetInput => ({
      kind: 'usage',
      at: new Date(Date.parse(PERIODS[period]!) + DAY).toISOString(),
      usage: {
        period_start: PERIODS[period]!,
        period_end: PERIODS[period + 1]!,
        metric: 'calls',
        price: PRICES[0]!,
        shard: 0,
        quantity,
      },
    });
    const first = applyBudgetInputs(
      emptyProjection('sub_1', NOW),
      new Map(),
      [subscriptionInput(1, 0, [{ percent: 50 }]), usage(0, '30000')],
      NOW,
    )!;
    expect(first.projection.crossed).toEqual(['50%']);
    const paid = applyBudgetInputs(
      first.projection,
      new Map(),
      [
        {
          kind: 'invoice_paid',
          at: PERIODS[1]!,
          invoice: { invoice_id: 'in_1', period_start: PERIODS[1]!, period_end: PERIODS[2]! },
        },
      ],
      NOW,
    )!;
    expect(paid.projection).toMatchObject({
      period_start: PERIODS[1],
      spend: '0',
      crossed: [],
      last_paid_invoice_id: 'in_1',
    });
    expect(applyBudgetInputs(paid.projection, new Map(), [usage(0, '40000')], NOW)).toBeUndefined();
  });
});

describe('the forecast (docs/smart-gateway.md, worked example)', () => {
  const start = '2026-04-01T00:00:00.000Z';
  const end = '2026-05-01T00:00:00.000Z'; // 30 days
  it('$10.00 spent by day 10 of 30: $30.00 projected, a $20.00 budget runs out on day 20', () => {
    expect(forecast(1000n, 2000, start, end, '2026-04-11T00:00:00.000Z')).toEqual({
      projected: 3000n,
      exhaustion: '2026-04-21T00:00:00.000Z',
    });
  });
  it('a $40.00 budget outlasts the period at that rate: no exhaustion', () => {
    expect(forecast(1000n, 4000, start, end, '2026-04-11T00:00:00.000Z').exhaustion).toBeNull();
  });
  it('a first minute of usage extrapolates from an hour, not from a minute', () => {
    expect(forecast(10n, 1_000_000, start, end, '2026-04-01T00:01:00.000Z').projected).toBe(7200n);
  });
  it('a budget already spent ran out when the spend reached it', () => {
    expect(forecast(2500n, 2000, start, end, '2026-04-15T00:00:00.000Z').exhaustion).toBe(
      '2026-04-15T00:00:00.000Z',
    );
  });
});
