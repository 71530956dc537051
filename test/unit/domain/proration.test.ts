import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { roundHalfUp } from '../../../shared/domain/money.ts';
import { feeSegment } from '../../../shared/domain/proration.ts';

const fee = fc.integer({ min: 0, max: 10_000_000_000 });
const period = fc
  .tuple(
    fc.integer({ min: 1_600_000_000_000, max: 1_900_000_000_000 }),
    fc.integer({ min: 1, max: 400 * 86_400_000 }),
  )
  .map(([start, length]) => ({ start: new Date(start), end: new Date(start + length), length }));
/** A period and sorted cut points inside it (a plan changing at each). */
const periodAndCuts = period.chain((p) =>
  fc.array(fc.integer({ min: 0, max: p.length }), { maxLength: 6 }).map((offsets) => ({
    ...p,
    cuts: [...offsets].sort((a, b) => a - b).map((o) => new Date(p.start.getTime() + o)),
  })),
);

describe('fee segments (the one proration rule)', () => {
  it('the whole period costs the fee; an empty segment costs nothing', () => {
    fc.assert(
      fc.property(fee, period, (amount, p) => {
        expect(feeSegment(amount, p, p.start, p.end)).toBe(amount);
        expect(feeSegment(amount, p, p.start, p.start)).toBe(0);
        expect(feeSegment(amount, p, p.end, p.end)).toBe(0);
      }),
    );
  });

  it('the segments of any split of a period add up to exactly the fee: no minor unit created or lost', () => {
    fc.assert(
      fc.property(fee, periodAndCuts, (amount, p) => {
        const bounds = [p.start, ...p.cuts, p.end];
        let sum = 0;
        for (let i = 1; i < bounds.length; i++) sum += feeSegment(amount, p, bounds[i - 1]!, bounds[i]!);
        expect(sum).toBe(amount);
      }),
    );
  });

  it('each segment is within one minor unit of its exact share of the fee, never negative', () => {
    fc.assert(
      fc.property(fee, periodAndCuts, (amount, p) => {
        const bounds = [p.start, ...p.cuts, p.end];
        for (let i = 1; i < bounds.length; i++) {
          const from = bounds[i - 1]!;
          const to = bounds[i]!;
          const segment = feeSegment(amount, p, from, to);
          // The exact share, as a rational: amount × (to − from) / length.
          const exact2 = (2n * BigInt(amount) * BigInt(to.getTime() - from.getTime())) / BigInt(p.length);
          expect(segment).toBeGreaterThanOrEqual(0);
          expect(Math.abs(2 * segment - Number(exact2))).toBeLessThanOrEqual(2 + 1);
        }
      }),
    );
  });

  it("Stripe's published example: 10 USD → 20 USD at the exact middle credits −5 and charges +10", () => {
    const p = { start: new Date('2026-04-01T00:00:00Z'), end: new Date('2026-05-01T00:00:00Z') };
    const middle = new Date('2026-04-16T00:00:00Z');
    expect(-feeSegment(1000, p, middle, p.end)).toBe(-500);
    expect(feeSegment(2000, p, middle, p.end)).toBe(1000);
  });

  it('half of a 999-cent fee at mid-period rounds the used half up: 500 used, 499 left', () => {
    const p = { start: new Date('2026-01-01T00:00:00Z'), end: new Date('2026-01-01T00:00:02Z') };
    const middle = new Date('2026-01-01T00:00:01Z');
    expect(feeSegment(999, p, p.start, middle)).toBe(500);
    expect(feeSegment(999, p, middle, p.end)).toBe(499);
  });

  it('moments outside the period are clamped to it; a segment that ends before it starts is refused', () => {
    const p = { start: new Date('2026-01-01T00:00:00Z'), end: new Date('2026-01-31T00:00:00Z') };
    expect(feeSegment(3000, p, new Date('2025-12-01T00:00:00Z'), new Date('2026-03-01T00:00:00Z'))).toBe(
      3000,
    );
    expect(() => feeSegment(3000, p, p.end, p.start)).toThrow(RangeError);
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
