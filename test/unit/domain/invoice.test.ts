import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Price } from '../../../shared/domain/catalog.ts';
import { DomainError } from '../../../shared/domain/errors.ts';
import {
  buildLines,
  type InvoiceStatus,
  invoiceIdFor,
  invoiceNumber,
  nextInvoiceStatus,
  totalsOf,
} from '../../../shared/domain/invoice.ts';
import { rateUsage } from '../../../shared/domain/rating.ts';

const price = (overrides: Partial<Price>): Price => ({
  id: 'p',
  plan_id: 'plan',
  currency: 'USD',
  model: 'per_unit',
  metric: 'calls',
  unit_amount: null,
  unit_amount_decimal: '1',
  package_size: null,
  tiers: null,
  nickname: null,
  active: true,
  created_at: '2026-01-01T00:00:00.000Z',
  updated_at: '2026-01-01T00:00:00.000Z',
  version: 1,
  ...overrides,
});

const decimal = fc
  .tuple(fc.integer({ min: 0, max: 5000 }), fc.integer({ min: 0, max: 9999 }))
  .map(([w, f]) => `${w}.${String(f).padStart(4, '0')}`);

describe('invoice lines and totals', () => {
  it('the total is exactly the sum of the lines, each rated once, for any fees, usage and prorations', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 10_000_000 }), { maxLength: 3 }),
        fc.array(fc.tuple(decimal, fc.integer({ min: 0, max: 1_000_000 })), { maxLength: 5 }),
        fc.array(fc.integer({ min: -5_000_000, max: 5_000_000 }), { maxLength: 4 }),
        (fees, usage, prorations) => {
          const lines = buildLines({
            periodStart: '2026-03-01T00:00:00.000Z',
            periodEnd: '2026-04-01T00:00:00.000Z',
            flatPrices: fees.map((amount, i) =>
              price({ id: `fee${i}`, model: 'flat', metric: null, unit_amount: amount }),
            ),
            usage: usage.map(([unit, quantity], i) => ({
              metric: `m${i}`,
              quantity: String(quantity),
              price: price({ id: `u${i}`, metric: `m${i}`, unit_amount_decimal: unit }),
            })),
            pendingItems: prorations.map((amount, i) => ({
              id: `pi${i}`,
              kind: amount < 0 ? 'proration_credit' : 'proration_charge',
              amount,
              currency: 'USD',
              plan_id: 'plan',
              description: 'proration',
              period_start: '2026-03-10T00:00:00.000Z',
              period_end: '2026-04-01T00:00:00.000Z',
            })),
          });
          const { total, amount_due } = totalsOf(lines);
          expect(total).toBe(lines.reduce((sum, line) => sum + line.amount, 0));
          expect(lines.every((line) => Number.isSafeInteger(line.amount))).toBe(true);
          expect(lines).toHaveLength(fees.length + usage.length + prorations.length);
          const usageLines = lines.filter((l) => l.kind === 'usage');
          usageLines.forEach((line) => {
            const [unit, quantity] = usage[Number(line.metric!.slice(1))]!;
            expect(line.amount).toBe(rateUsage(price({ unit_amount_decimal: unit }), String(quantity)));
          });
          expect(amount_due).toBe(Math.max(total, 0));
        },
      ),
    );
  });

  it('one period always maps to one invoice id; another period to another', () => {
    expect(invoiceIdFor('s1', '2026-03-01T00:00:00.000Z')).toBe(
      invoiceIdFor('s1', '2026-03-01T00:00:00.000Z'),
    );
    expect(invoiceIdFor('s1', '2026-03-01T00:00:00.000Z')).not.toBe(
      invoiceIdFor('s1', '2026-04-01T00:00:00.000Z'),
    );
    expect(invoiceIdFor('s1', '2026-03-01T00:00:00.000Z')).not.toBe(
      invoiceIdFor('s2', '2026-03-01T00:00:00.000Z'),
    );
  });

  it('numbers read INV-<customer>-<sequence>', () => {
    expect(invoiceNumber('3f1c2b9e-8a55-4a0e', 7)).toBe('INV-3F1C2B9E-0007');
  });
});

describe('invoice state machine', () => {
  const table: [InvoiceStatus, 'finalize' | 'pay' | 'void' | 'mark_uncollectible', InvoiceStatus | null][] = [
    ['draft', 'finalize', 'open'],
    ['draft', 'pay', null],
    ['draft', 'void', 'void'],
    ['open', 'pay', 'paid'],
    ['open', 'void', 'void'],
    ['open', 'mark_uncollectible', 'uncollectible'],
    ['open', 'finalize', null],
    ['uncollectible', 'pay', 'paid'],
    ['paid', 'void', null],
    ['paid', 'pay', null],
    ['void', 'pay', null],
    ['void', 'finalize', null],
  ];
  it.each(table)('%s --%s--> %s', (status, action, expected) => {
    if (expected) expect(nextInvoiceStatus(status, action)).toBe(expected);
    else expect(() => nextInvoiceStatus(status, action)).toThrow(DomainError);
  });
});
