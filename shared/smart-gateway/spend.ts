import type { Price } from '../domain/catalog.ts';
import { rateUsage } from '../domain/rating.ts';
import { sumQuantities } from '../domain/usage.ts';

/**
 * How the budgets row holds usage, so current_spend can be recomputed exactly from the row alone:
 * one attribute per counter shard (`usage#<period start>#<metric>#<shard>` = exact decimal total)
 * and one per metric's price (`usage_price#<period start>#<metric>`).
 */
export const usageAttribute = (periodStart: string, metric: string, shard: number): string =>
  `usage#${periodStart}#${metric}#${shard}`;

export const usagePriceAttribute = (periodStart: string, metric: string): string =>
  `usage_price#${periodStart}#${metric}`;

/** current_spend of `periodStart`: each metric's shards summed exactly, rated once with its price. */
export function spendForPeriod(row: Record<string, unknown>, periodStart: string): number {
  const prefix = `usage#${periodStart}#`;
  const quantities = new Map<string, string[]>();
  for (const [name, value] of Object.entries(row)) {
    if (!name.startsWith(prefix) || typeof value !== 'string') continue;
    const metric = name.slice(prefix.length, name.lastIndexOf('#'));
    quantities.set(metric, [...(quantities.get(metric) ?? []), value]);
  }
  let spend = 0;
  for (const [metric, parts] of quantities) {
    const price = row[usagePriceAttribute(periodStart, metric)] as Price | undefined;
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
