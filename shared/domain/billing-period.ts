import type { Interval } from './catalog.ts';

/**
 * Billing periods follow the calendar in UTC from the subscription's anchor: the n-th period
 * starts n months (or years) after the anchor, on the anchor's day, or on the last day of a shorter
 * month (anchor Jan 31 → Feb 28/29 → Mar 31), so periods never drift.
 */
export function addIntervals(anchor: Date, interval: Interval, count: number): Date {
  const months = interval === 'year' ? 12 * count : count;
  const year = anchor.getUTCFullYear();
  const month = anchor.getUTCMonth() + months;
  const targetYear = year + Math.floor(month / 12);
  const targetMonth = ((month % 12) + 12) % 12;
  const lastDay = new Date(Date.UTC(targetYear, targetMonth + 1, 0)).getUTCDate();
  return new Date(
    Date.UTC(
      targetYear,
      targetMonth,
      Math.min(anchor.getUTCDate(), lastDay),
      anchor.getUTCHours(),
      anchor.getUTCMinutes(),
      anchor.getUTCSeconds(),
      anchor.getUTCMilliseconds(),
    ),
  );
}

export type Period = { start: Date; end: Date };

/** The period (start inclusive, end exclusive) that contains `at`, for a subscription anchored at `anchor`. */
export function periodContaining(anchor: Date, interval: Interval, at: Date): Period {
  if (at < anchor) throw new RangeError('The moment is before the billing anchor');
  // Estimate the index from elapsed months, then correct by at most a step either way.
  const elapsedMonths =
    (at.getUTCFullYear() - anchor.getUTCFullYear()) * 12 + (at.getUTCMonth() - anchor.getUTCMonth());
  let index = Math.max(0, Math.floor(elapsedMonths / (interval === 'year' ? 12 : 1)) - 1);
  while (addIntervals(anchor, interval, index + 1) <= at) index++;
  while (index > 0 && addIntervals(anchor, interval, index) > at) index--;
  return { start: addIntervals(anchor, interval, index), end: addIntervals(anchor, interval, index + 1) };
}

export const addDays = (at: Date, days: number): Date => new Date(at.getTime() + days * 86_400_000);
