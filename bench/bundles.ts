import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
// @ts-expect-error: plain ESM build script without type declarations
import { buildFunctions } from '../esbuild.config.mjs';
import { BACKGROUND_HANDLERS } from '../shared/http/routes.ts';
import type { SummaryRow } from './summary.ts';
import { quickRequested } from './support.ts';
import { printTable } from './table.ts';

/**
 * Bundle size and module init time of every Lambda, next to a hello-world handler bundled with the
 * same esbuild settings in the same run (ratios, since machines are noisy). Init time is the time a
 * fresh `node` process takes to import the bundle, minus nothing: the hello row is the baseline.
 */
/** Target: every API Lambda's cold import within this multiple of the hello-world bundle's. */
const API_INIT_TARGET = 1.5;

export async function benchBundles(): Promise<SummaryRow[]> {
  const runs = Number(process.env.BENCH_RUNS ?? (quickRequested() ? 3 : 7));
  const outDir = mkdtempSync(join(tmpdir(), 'billing-bundles-'));
  try {
    const built: { name: string }[] = await buildFunctions({ outDir, quiet: true });
    const helloSource = join(outDir, 'hello.ts');
    writeFileSync(helloSource, 'export const handler = async () => ({ statusCode: 200, body: "hello" });\n');
    mkdirSync(join(outDir, 'hello-world'), { recursive: true });
    await build({
      entryPoints: [helloSource],
      outfile: join(outDir, 'hello-world', 'index.mjs'),
      bundle: true,
      platform: 'node',
      target: 'node22',
      format: 'esm',
      minify: true,
      sourcemap: true,
      logLevel: 'silent',
    });
    const names = ['hello-world', ...built.map((b) => b.name)];
    const rows = names.map((name) => {
      const file = join(outDir, name, 'index.mjs');
      const initMs = median(Array.from({ length: runs }, () => importTime(file)));
      return { name, bytes: statSync(file).size, initMs };
    });
    const hello = rows[0]!;
    printTable(
      `Lambda bundles (esbuild, minified, ESM, node22 target); init = median of ${runs} fresh \`node\` imports`,
      ['function', 'bundle KiB', 'x hello size', 'init ms', 'x hello init'],
      rows.map((row) => [
        row.name,
        (row.bytes / 1024).toFixed(1),
        (row.bytes / hello.bytes).toFixed(0),
        row.initMs.toFixed(1),
        (row.initMs / hello.initMs).toFixed(2),
      ]),
    );
    console.log(
      `  (${readdirSync(outDir).length - 1} bundles; source maps written beside each, not counted)`,
    );
    const background = new Set<string>(BACKGROUND_HANDLERS);
    const slowest = rows
      .filter((row) => row !== hello && !background.has(row.name))
      .reduce((worst, row) => (row.initMs > worst.initMs ? row : worst));
    const ratio = slowest.initMs / hello.initMs;
    return [
      {
        benchmark: 'bundles',
        measure: `slowest API Lambda cold import (${slowest.name}), ms`,
        value: slowest.initMs.toFixed(1),
        ceiling: `${hello.initMs.toFixed(1)} (hello world)`,
        ratio: ratio.toFixed(2),
        target: `≤ ${API_INIT_TARGET.toFixed(2)}`,
        met: ratio <= API_INIT_TARGET,
      },
    ];
  } finally {
    rmSync(outDir, { recursive: true, force: true });
  }
}

/** Milliseconds for a fresh node process to import the module, measured inside that process. */
function importTime(file: string): number {
  const script = `const t=process.hrtime.bigint();await import(${JSON.stringify(file)});console.log(Number(process.hrtime.bigint()-t)/1e6)`;
  const output = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, TABLE_NAME: 'bench', AWS_REGION: 'us-east-1' },
  });
  return Number(output.toString().trim());
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}
