import type { Price } from '../domain/catalog.ts';
import { CatalogRepository } from './catalog-repository.ts';

/**
 * The prices of a plan as usage ingestion reads them, kept per process (per Lambda instance) for
 * PLAN_PRICES_CACHE_MS, so a usage POST reads its subscription and writes its records without a
 * Query of the catalog each time. The close, invoices and previews read the catalog itself.
 *
 * Why a stale entry cannot mis-rate a record: a price never changes once created (the catalog only
 * archives a price and creates its successor), and a record is counted, and later invoiced, under
 * the very price it was accepted with, archived or not (its counter is per price). So a stale entry
 * can only mean that, for at most PLAN_PRICES_CACHE_MS after a price change made by another process,
 * a record is still accepted under the price just archived, and billed at exactly that price, as if
 * it had arrived that much earlier. The cache decides only records whose first plan (the
 * subscription's base item, as decideUsage tries them) prices the metric: for any other record
 * ingestion reads every plan of the record again first (`fresh`), so a new metric is billable at
 * once and entries of different ages never hand a metric to another item. A price created or
 * archived in this process drops its plan's entry here. (The catalog read itself is a query of an
 * index, which in AWS may lag a write by a moment, cached or not.)
 */
export const PLAN_PRICES_CACHE_MS = 5_000;

const entries = new Map<string, { prices: Promise<Price[]>; until: number }>();

export function cachedPlanPrices(
  tableName: string,
  planId: string,
  options: { fresh?: boolean; nowMs?: number } = {},
): Promise<Price[]> {
  const nowMs = options.nowMs ?? performance.now();
  const key = `${tableName}#${planId}`;
  const entry = entries.get(key);
  if (entry && entry.until > nowMs && !options.fresh) return entry.prices;
  const prices = new CatalogRepository(tableName).allPricesOfPlan(planId);
  entries.set(key, { prices, until: nowMs + PLAN_PRICES_CACHE_MS });
  // A failed read is not kept: the next request reads again.
  prices.catch(() => {
    if (entries.get(key)?.prices === prices) entries.delete(key);
  });
  return prices;
}

/** After a price of `planId` was created or archived in this process. */
export function forgetPlanPrices(planId: string): void {
  for (const key of entries.keys()) if (key.endsWith(`#${planId}`)) entries.delete(key);
}
