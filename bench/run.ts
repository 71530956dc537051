import { benchBudgetSync } from './budget-sync.ts';
import { benchBundles } from './bundles.ts';
import { benchClosePeriods } from './close-periods.ts';
import { benchLoad } from './load.ts';
import { benchSpendPath } from './spend-path.ts';
import { benchUsageIngest } from './usage-ingest.ts';

/**
 * `npm run bench` runs every benchmark; `npm run bench -- <name>` runs one. Options after the names
 * (`npm run bench -- close-periods --quick`) are left for the benchmarks to read.
 */
const BENCHMARKS: Record<string, () => Promise<void>> = {
  bundles: benchBundles,
  'budget-sync': benchBudgetSync,
  'spend-path': benchSpendPath,
  'usage-ingest': benchUsageIngest,
  'close-periods': benchClosePeriods,
  load: benchLoad,
};

const args = process.argv.slice(2);
const firstOption = args.findIndex((arg) => arg.startsWith('-'));
const selected = firstOption === -1 ? args : args.slice(0, firstOption);
for (const name of selected.length > 0 ? selected : Object.keys(BENCHMARKS)) {
  const run = BENCHMARKS[name];
  if (!run) {
    console.error(`Unknown benchmark "${name}"; choose from: ${Object.keys(BENCHMARKS).join(', ')}`);
    process.exit(2);
  }
  await run();
}
