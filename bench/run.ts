import { benchBudgetSync } from './budget-sync.ts';
import { benchBundles } from './bundles.ts';
import { benchClosePeriods } from './close-periods.ts';
import { benchIdle } from './idle.ts';
import { benchLoad } from './load.ts';
import { benchSpendPath } from './spend-path.ts';
import { printSummary, type SummaryRow } from './summary.ts';
import { benchUsageIngest } from './usage-ingest.ts';

/**
 * `npm run bench` (or `npm run bench -- all`) runs every benchmark; `npm run bench -- <name>` runs
 * one. Options after the names (`npm run bench -- all --quick`) are left for the benchmarks to read.
 * Each prints its own tables, and the run ends with one summary table of every measure next to its
 * in-run ceiling.
 */
const BENCHMARKS: Record<string, () => Promise<SummaryRow[] | undefined>> = {
  bundles: benchBundles,
  idle: benchIdle,
  'budget-sync': benchBudgetSync,
  'spend-path': benchSpendPath,
  'usage-ingest': benchUsageIngest,
  'close-periods': benchClosePeriods,
  load: benchLoad,
};

const args = process.argv.slice(2);
const firstOption = args.findIndex((arg) => arg.startsWith('-'));
const named = firstOption === -1 ? args : args.slice(0, firstOption);
const selected = named.length === 0 || named.includes('all') ? Object.keys(BENCHMARKS) : named;
const unknown = selected.filter((name) => !BENCHMARKS[name]);
if (unknown.length > 0) {
  console.error(`Unknown benchmark "${unknown[0]}"; choose from: all, ${Object.keys(BENCHMARKS).join(', ')}`);
  process.exit(2);
}
const started = performance.now();
const summary: SummaryRow[] = [];
const took: string[] = [];
for (const name of selected) {
  const began = performance.now();
  summary.push(...((await BENCHMARKS[name]!()) ?? []));
  took.push(`${name} ${((performance.now() - began) / 1000).toFixed(0)} s`);
}
printSummary(summary);
console.log(
  `\n${selected.length} benchmark(s) in ${((performance.now() - started) / 1000).toFixed(0)} s (${took.join(', ')})`,
);
if (summary.some((row) => row.met === false)) process.exitCode = 1;
