import { benchBudgetSync } from './budget-sync.ts';
import { benchBundles } from './bundles.ts';
import { benchUsageIngest } from './usage-ingest.ts';

/** `npm run bench` runs every benchmark; `npm run bench -- <name>` runs one. */
const BENCHMARKS: Record<string, () => Promise<void>> = {
  bundles: benchBundles,
  'budget-sync': benchBudgetSync,
  'usage-ingest': benchUsageIngest,
};

const selected = process.argv.slice(2);
for (const name of selected.length > 0 ? selected : Object.keys(BENCHMARKS)) {
  const run = BENCHMARKS[name];
  if (!run) {
    console.error(`Unknown benchmark "${name}"; choose from: ${Object.keys(BENCHMARKS).join(', ')}`);
    process.exit(2);
  }
  await run();
}
