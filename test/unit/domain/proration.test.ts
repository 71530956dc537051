import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { roundHalfUp } from '../../../shared/domain/money.ts';
import { prorate, unusedPart } from '../../../shared/domain/proration.ts';

const fee = fc.integer({ min: 0, max: 10_000_000_000 });
const period = fc
  .tuple(
    fc.integer({ min: 1_600_000_000_000, max: 1_900_000_000_000 }),
    fc.integer({ min: 1, max: 400 * 86_400_000 }),
  )
  .map(([start, length]) => ({ start: new Date(start), end: new Date(start + length), length }));
const periodAndMoment = period.chain((p) =>
  fc.integer({ min: 0, max: p.length }).map((offset) => ({ ...p, at: new Date(p.start.getTime() + offset) })),
);

describe('proration of a plan change', () => {
  it('a change at the start of the period credits the whole old fee and charges the whole new fee', () => {
    fc.assert(
      fc.property(fee, fee, period, (oldFee, newFee, p) => {
        const { credit, charge } = prorate({
          oldFee,
          newFee,
          periodStart: p.start,
          periodEnd: p.end,
          changeAt: p.start,
        });
        // Compared by sum: a zero credit is +0, never -0.
        expect(credit + oldFee).toBe(0);
        expect(Object.is(credit, -0)).toBe(false);
        expect(charge).toBe(newFee);
      }),
    );
  });

  it('a change at the end of the period credits and charges nothing', () => {
    fc.assert(
      fc.property(fee, fee, period, (oldFee, newFee, p) => {
        expect(prorate({ oldFee, newFee, periodStart: p.start, periodEnd: p.end, changeAt: p.end })).toEqual({
          credit: 0,
          charge: 0,
        });
      }),
    );
  });

  it('used + unused is exactly the fee: no minor unit is created or lost', () => {
    fc.assert(
      fc.property(fee, periodAndMoment, (amount, p) => {
        const unused = unusedPart(amount, p.start, p.end, p.at);
        const elapsed = BigInt(p.at.getTime() - p.start.getTime());
        const used = roundHalfUp(BigInt(amount) * elapsed, BigInt(p.length));
        expect(used + unused).toBe(amount);
        expect(Number.isSafeInteger(unused)).toBe(true);
        expect(unused).toBeGreaterThanOrEqual(0);
        expect(unused).toBeLessThanOrEqual(amount);
      }),
    );
  });

  it('changing to a plan with the same fee nets to exactly zero', () => {
    fc.assert(
      fc.property(fee, periodAndMoment, (amount, p) => {
        const { credit, charge } = prorate({
          oldFee: amount,
          newFee: amount,
          periodStart: p.start,
          periodEnd: p.end,
          changeAt: p.at,
        });
        expect(credit + charge).toBe(0);
      }),
    );
  });

  it('the unused part is within half a minor unit of the exact share, and shrinks as time passes', () => {
    fc.assert(
      fc.property(fee, periodAndMoment, fc.integer({ min: 0, max: 86_400_000 }), (amount, p, later) => {
        const unused = unusedPart(amount, p.start, p.end, p.at);
        const exact = (amount * (p.end.getTime() - p.at.getTime())) / p.length;
        expect(Math.abs(unused - exact)).toBeLessThanOrEqual(0.5 + 1e-6 * amount);
        const laterMoment = new Date(Math.min(p.end.getTime(), p.at.getTime() + later));
        expect(unusedPart(amount, p.start, p.end, laterMoment)).toBeLessThanOrEqual(unused);
      }),
    );
  });

  it('half of a 999-cent fee at mid-period rounds the used half up: 500 used, 499 unused', () => {
    const start = new Date('2026-01-01T00:00:00Z');
    const end = new Date('2026-01-01T00:00:02Z');
    expect(unusedPart(999, start, end, new Date('2026-01-01T00:00:01Z'))).toBe(499);
  });
});

describe('rounding', () => {
  it('rounds halves away from zero and everything else to the nearest integer', () => {
    expect([
      roundHalfUp(5n, 2n),
      roundHalfUp(-5n, 2n),
      roundHalfUp(7n, 3n),
      roundHalfUp(8n, 3n),
      roundHalfUp(0n, 7n),
    ]).toEqual([3, -3, 2, 3, 0]);
    fc.assert(
      fc.property(
        fc.bigInt({ min: -(10n ** 15n), max: 10n ** 15n }),
        fc.bigInt({ min: 1n, max: 10n ** 6n }),
        (n, d) => {
          const r = BigInt(roundHalfUp(n, d));
          expect(2n * (n - r * d) <= d && 2n * (n - r * d) >= -d).toBe(true);
        },
      ),
    );
  });
});
