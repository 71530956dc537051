import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Price } from '../../../shared/domain/catalog.ts';
import type { UsageTotal } from '../../../shared/domain/invoice.ts';
import {
  type ThresholdInvoice,
  thresholdCredits,
  thresholdToInvoice,
  thresholdUsageLines,
} from '../../../shared/domain/progressive-billing.ts';
import { usagePriceFixture } from '../../support/catalog-fixtures.ts';

/**
 * Progressive billing checked against an independent statement of what is owed: whatever thresholds
 * are invoiced and whenever, a period's invoices together bill what one invoice rating the whole
 * period would bill, and each threshold invoice bills what the usage rated so far adds to what was
 * invoiced before. The model rates with its own integer arithmetic (whole units, prices in
 * thousandths of a minor unit), never with rating.ts.
 */

const RUNS = Number(process.env.PROPERTY_RUNS ?? 200);

const base: Price = usagePriceFixture();

/** A price as the model sees it: per unit, or volume tiers (all units at the tier holding the total). */
type ModelPrice =
  | { id: string; metric: string; kind: 'per_unit'; milli: number }
  | { id: string; metric: string; kind: 'volume'; upTo: number; lowMilli: number; highMilli: number };

const milliText = (milli: number) => (milli / 1000).toFixed(3);

function toPrice(p: ModelPrice): Price {
  if (p.kind === 'per_unit')
    return { ...base, id: p.id, metric: p.metric, unit_amount_decimal: milliText(p.milli) };
  return {
    ...base,
    id: p.id,
    metric: p.metric,
    model: 'tiered_volume',
    tiers: [
      { up_to: p.upTo, unit_amount_decimal: milliText(p.lowMilli), flat_amount: 0 },
      { up_to: null, unit_amount_decimal: milliText(p.highMilli), flat_amount: 0 },
    ],
  };
}

/** Half up of n / 1000 for n ≥ 0: the model's one rounding. */
const roundMilli = (n: bigint) => Number((n + 500n) / 1000n);

function modelRate(p: ModelPrice, quantity: number): number {
  const q = BigInt(quantity);
  if (p.kind === 'per_unit') return roundMilli(q * BigInt(p.milli));
  if (quantity === 0) return 0;
  return roundMilli(q * BigInt(quantity <= p.upTo ? p.lowMilli : p.highMilli));
}

const modelPrice = (id: string, metric: string) =>
  fc.oneof(
    fc.integer({ min: 1, max: 90_000 }).map((milli): ModelPrice => ({ id, metric, kind: 'per_unit', milli })),
    fc
      .tuple(
        fc.integer({ min: 1, max: 500 }),
        fc.integer({ min: 1, max: 90_000 }),
        fc.integer({ min: 1, max: 90_000 }),
      )
      .map(
        ([upTo, lowMilli, highMilli]): ModelPrice => ({
          id,
          metric,
          kind: 'volume',
          upTo,
          lowMilli,
          highMilli,
        }),
      ),
  );

const scenario = fc.record({
  prices: fc.tuple(modelPrice('p1', 'calls'), modelPrice('p2', 'calls'), modelPrice('p3', 'tokens')),
  /** Usage arriving during the period: which price, how many units. */
  steps: fc.array(fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 400 })), {
    maxLength: 40,
  }),
  thresholds: fc
    .uniqueArray(fc.integer({ min: 1, max: 20_000 }), { maxLength: 5 })
    .map((t) => t.sort((a, b) => a - b)),
  /** Which threshold invoices the finance team voids (by position) before the close. */
  voided: fc.array(fc.boolean(), { minLength: 5, maxLength: 5 }),
});

describe('progressive billing', () => {
  it('bills a period, thresholds and close together, exactly what one invoice of the whole period would', () => {
    fc.assert(
      fc.property(scenario, ({ prices, steps, thresholds, voided }) => {
        const quantities = [0, 0, 0];
        const usageNow = (): UsageTotal[] =>
          prices
            .map((p, i) => ({ metric: p.metric, quantity: String(quantities[i]), price: toPrice(p) }))
            .filter((_, i) => quantities[i]! > 0);
        const modelSpend = () => prices.reduce((sum, p, i) => sum + modelRate(p, quantities[i]!), 0);
        const invoices: ThresholdInvoice[] = [];
        let invoicedSoFar = 0; // the model: the spend at the last threshold invoice
        for (const [which, units] of steps) {
          quantities[which]! += units;
          const spend = modelSpend();
          const threshold = thresholdToInvoice(thresholds, spend, invoices);
          // The model: the highest threshold passed, when it is above every one invoiced before.
          const passed = thresholds.filter((t) => t <= spend);
          const expected =
            passed.length > 0 && Math.max(...passed) > Math.max(0, ...invoices.map((i) => i.threshold))
              ? Math.max(...passed)
              : undefined;
          expect(threshold).toBe(expected);
          if (threshold === undefined) continue;
          const lines = thresholdUsageLines(usageNow(), invoices);
          const total = lines.reduce((sum, line) => sum + line.amount, 0);
          // What the usage rated now adds to what the period's threshold invoices billed before.
          expect(total).toBe(spend - invoicedSoFar);
          invoicedSoFar = spend;
          invoices.push({
            amount_due: total,
            id: `in_${invoices.length}`,
            number: `${invoices.length + 1}`,
            threshold,
            status: 'open',
            lines,
          });
        }
        // Each threshold at most once, in ascending order.
        const invoicedThresholds = invoices.map((i) => i.threshold);
        expect(invoicedThresholds).toEqual([...new Set(invoicedThresholds)].sort((a, b) => a - b));

        // Voiding a threshold invoice means it is not owed: the close bills its usage again.
        const standing = invoices.map((invoice, i) =>
          voided[i] ? { ...invoice, status: 'void' as const } : invoice,
        );
        const credits = thresholdCredits(standing);
        const wholePeriod = modelSpend();
        const closeTotal = wholePeriod + credits.reduce((sum, credit) => sum + credit.amount, 0);
        const thresholdTotals = standing
          .filter((invoice) => invoice.status !== 'void')
          .reduce((sum, invoice) => sum + invoice.lines.reduce((s, line) => s + line.amount, 0), 0);
        expect(thresholdTotals + closeTotal).toBe(wholePeriod);
        expect(
          credits.every((credit) => standing.some((i) => i.id === credit.invoice_id && i.status !== 'void')),
        ).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });

  it('bills a volume-tiered price that rates lower past its tier as a credit at the next threshold', () => {
    // 100 units at 1.000 = 100; at 101 every unit drops to 0.500: 50.5 → 51. Worked by hand.
    const price = toPrice({
      id: 'v',
      metric: 'calls',
      kind: 'volume',
      upTo: 100,
      lowMilli: 1000,
      highMilli: 500,
    });
    const first = thresholdUsageLines([{ metric: 'calls', quantity: '100', price }], []);
    expect(first).toEqual([{ metric: 'calls', price_id: 'v', quantity: '100', amount: 100 }]);
    const invoice: ThresholdInvoice = {
      id: 'in_1',
      number: '7',
      threshold: 100,
      status: 'paid',
      amount_due: 100,
      lines: first,
    };
    expect(thresholdUsageLines([{ metric: 'calls', quantity: '101', price }], [invoice])).toEqual([
      { metric: 'calls', price_id: 'v', quantity: '101', amount: -49 },
    ]);
    // At the close: the whole period (51) less the 100 invoiced: a net credit of 49.
    expect(thresholdCredits([invoice])).toEqual([
      { invoice_id: 'in_1', number: '7', amount: -100, tax_rates: [] },
    ]);
  });

  it('invoices a jump past several thresholds once, under the highest, and the lower ones never after', () => {
    expect(thresholdToInvoice([1000, 5000, 10_000], 999, [])).toBeUndefined();
    expect(thresholdToInvoice([1000, 5000, 10_000], 6000, [])).toBe(5000);
    const at5000: ThresholdInvoice = {
      id: 'a',
      number: '1',
      threshold: 5000,
      status: 'open',
      amount_due: 0,
      lines: [],
    };
    expect(thresholdToInvoice([1000, 5000, 10_000], 9999, [at5000])).toBeUndefined();
    expect(thresholdToInvoice([1000, 5000, 10_000], 10_000, [at5000])).toBe(10_000);
  });

  it('refuses to close over a threshold invoice still in draft, saying what to do', () => {
    const draft: ThresholdInvoice = {
      id: 'in_d',
      number: null,
      threshold: 10,
      status: 'draft',
      amount_due: 0,
      lines: [],
    };
    expect(() => thresholdCredits([draft])).toThrow(
      /in_d of this period is still a draft; finalize or void it first/,
    );
  });
});
