import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { addIntervals, periodContaining } from '../../../shared/domain/billing-period.ts';

describe('billing periods', () => {
  it('monthly periods keep the anchor day and clamp to the end of shorter months', () => {
    const anchor = new Date('2026-01-31T10:00:00Z');
    expect([1, 2, 3, 13].map((n) => addIntervals(anchor, 'month', n).toISOString())).toEqual([
      '2026-02-28T10:00:00.000Z',
      '2026-03-31T10:00:00.000Z',
      '2026-04-30T10:00:00.000Z',
      '2027-02-28T10:00:00.000Z',
    ]);
    expect(addIntervals(new Date('2028-02-29T00:00:00Z'), 'year', 1).toISOString()).toBe(
      '2029-02-28T00:00:00.000Z',
    );
  });

  it('every moment falls in exactly one period, and periods tile time without gaps', () => {
    const moment = fc.integer({ min: 1_700_000_000_000, max: 1_900_000_000_000 });
    fc.assert(
      fc.property(
        moment,
        fc.integer({ min: 0, max: 3 * 365 * 86_400_000 }),
        fc.constantFrom('month', 'year'),
        (a, offset, interval) => {
          const anchor = new Date(a);
          const at = new Date(a + offset);
          const { start, end } = periodContaining(anchor, interval as 'month' | 'year', at);
          expect(start.getTime()).toBeLessThanOrEqual(at.getTime());
          expect(end.getTime()).toBeGreaterThan(at.getTime());
          expect(periodContaining(anchor, interval as 'month' | 'year', end).start.getTime()).toBe(
            end.getTime(),
          );
        },
      ),
    );
  });
});
