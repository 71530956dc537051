import type { Price } from '../domain/catalog.ts';
import { rateUsage } from '../domain/rating.ts';
import { sumQuantities } from '../domain/usage.ts';

/**
 * How the budgets row holds usage, so current_spend can be recomputed exactly from the row alone:
 * one attribute per counter shard (`usage#<period start>#<metric>#<price id>#<shard>` = exact
 * decimal total) and one per (metric, price) with the price (`usage_price#<period>#<metric>#<price id>`).
 * Usage sold under a price is rated with that price, also when the price changed mid-period.
 */
export const usageAttribute = (periodStart: string, metric: string, priceId: string, shard: number): string =>
  `usage#${periodStart}#${metric}#${priceId}#${shard}`;

export const usagePriceAttribute = (periodStart: string, metric: string, priceId: string): string =>
  `usage_price#${periodStart}#${metric}#${priceId}`;

/** current_spend of `periodStart`: each (metric, price)'s shards summed exactly, rated once with that price. */
export function spendForPeriod(row: Record<string, unknown>, periodStart: string): number {
  const prefix = `usage#${periodStart}#`;
  const quantities = new Map<string, string[]>();
  for (const [name, value] of Object.entries(row)) {
    if (!name.startsWith(prefix) || typeof value !== 'string') continue;
    const metricAndPrice = name.slice(prefix.length, name.lastIndexOf('#'));
    quantities.set(metricAndPrice, [...(quantities.get(metricAndPrice) ?? []), value]);
  }
  let spend = 0;
  for (const [metricAndPrice, parts] of quantities) {
    const price = row[`usage_price#${periodStart}#${metricAndPrice}`] as Price | undefined;
    if (price) spend += rateUsage(price, sumQuantities(parts));
  }
  return spend;
}

/** Usage attributes (totals and prices) of periods that started before `periodStart`. */
export function usageAttributesBefore(row: Record<string, unknown>, periodStart: string): string[] {
  return Object.keys(row).filter((name) => {
    const match = /^usage(?:_price)?#([^#]+)#/.exec(name);
    return match !== null && match[1]! < periodStart;
  });
}

/**
 * The budget row moved forward to the period starting at `periodStart`, if it is not there or past
 * it already: the period, current_spend recomputed as that period's usage so far (already on the row
 * when usage of the new period arrived first), and the usage of earlier periods dropped. Undefined
 * when the row is already at or past that period (periods only move forward, whatever the order).
 */
export function rollToPeriod(
  row: Record<string, unknown>,
  periodStart: string,
  periodEnd: string,
): { set: Record<string, unknown>; remove: string[] } | undefined {
  if (typeof row.period_start === 'string' && row.period_start >= periodStart) return undefined;
  return moveTo(row, periodStart, periodEnd);
}

/**
 * As rollToPeriod, for the subscription's own word on its current period (its events are versioned,
 * so the newest is right): a period re-anchored at its very start keeps its start but not its end.
 */
export function alignToSubscriptionPeriod(
  row: Record<string, unknown>,
  periodStart: string,
  periodEnd: string,
): { set: Record<string, unknown>; remove: string[] } | undefined {
  if (row.period_start === periodStart) {
    return row.period_end === periodEnd ? undefined : { set: { period_end: periodEnd }, remove: [] };
  }
  return rollToPeriod(row, periodStart, periodEnd);
}

function moveTo(
  row: Record<string, unknown>,
  periodStart: string,
  periodEnd: string,
): { set: Record<string, unknown>; remove: string[] } {
  return {
    set: {
      period_start: periodStart,
      period_end: periodEnd,
      current_spend: spendForPeriod(row, periodStart),
    },
    remove: usageAttributesBefore(row, periodStart),
  };
}
