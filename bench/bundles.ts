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
 * Bundle size and cold start of every Lambda, next to a hello-world handler bundled with the same
 * esbuild settings in the same run (ratios, since machines are noisy). A cold start is the CPU time
 * (user + system) of a fresh `node` process that imports the bundle, Node's own start included, as
 * Lambda's init phase pays it; each bundle's runs are paired with a hello-world run right before it,
 * and the ratio is the median of the pairs' ratios. The wall time of the import alone is shown too.
 */
/** Target: every API Lambda's cold import within this multiple of the hello-world bundle's. */
const API_INIT_TARGET = 1.5;

export async function benchBundles(): Promise<SummaryRow[]> {
  const runs = Number(process.env.BENCH_RUNS ?? (quickRequested() ? 3 : 7));
  const outDir = mkdtempSync(join(tmpdir(), 'billing-bundles-'));
  try {
    const built: { name: string; metafile: Metafile }[] = await buildFunctions({ outDir, quiet: true });
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
    const helloFile = join(outDir, 'hello-world', 'index.mjs');
    const rows = names.map((name) => {
      const file = join(outDir, name, 'index.mjs');
      const pairs = Array.from({ length: runs }, () => [coldStart(helloFile), coldStart(file)] as const);
      return {
        name,
        bytes: statSync(file).size,
        importMs: median(pairs.map(([, run]) => run.importMs)),
        cpuMs: median(pairs.map(([, run]) => run.cpuMs)),
        ratio: median(pairs.map(([hello, run]) => run.cpuMs / hello.cpuMs)),
      };
    });
    const hello = rows[0]!;
    printTable(
      `Lambda bundles (esbuild, minified, ESM, node22 target); medians of ${runs} fresh \`node\` processes, each paired with a hello-world one`,
      ['function', 'bundle KiB', 'x hello size', 'import ms', 'process CPU ms', 'x hello CPU'],
      rows.map((row) => [
        row.name,
        (row.bytes / 1024).toFixed(1),
        (row.bytes / hello.bytes).toFixed(0),
        row.importMs.toFixed(1),
        row.cpuMs.toFixed(1),
        row.ratio.toFixed(2),
      ]),
    );
    console.log(
      `  (${readdirSync(outDir).length - 1} bundles; source maps written beside each, not counted)`,
    );
    printTable(
      'Largest modules of each bundle (bytes in the output, by package; "(ours)" is this repository)',
      ['function', 'top five'],
      built.map(({ name, metafile }) => [name, topModules(metafile, 5)]),
    );
    const background = new Set<string>(BACKGROUND_HANDLERS);
    const slowest = rows
      .filter((row) => row !== hello && !background.has(row.name))
      .reduce((worst, row) => (row.ratio > worst.ratio ? row : worst));
    const ratio = slowest.ratio;
    return [
      {
        benchmark: 'bundles',
        measure: `slowest API Lambda cold start (${slowest.name}), process CPU ms`,
        value: slowest.cpuMs.toFixed(1),
        ceiling: `${hello.cpuMs.toFixed(1)} (hello world)`,
        ratio: ratio.toFixed(2),
        target: `≤ ${API_INIT_TARGET.toFixed(2)}`,
        met: ratio <= API_INIT_TARGET,
      },
    ];
  } finally {
    rmSync(outDir, { recursive: true, force: true });
  }
}

type Metafile = {
  outputs: Record<string, { entryPoint?: string; inputs: Record<string, { bytesInOutput: number }> }>;
};

/** "zod 180 KiB, @aws-sdk/client-dynamodb 150 KiB, …": the bundle's bytes by package, largest first. */
function topModules(metafile: Metafile, count: number): string {
  const output = Object.values(metafile.outputs).find((o) => o.entryPoint);
  const bytes = new Map<string, number>();
  for (const [input, { bytesInOutput }] of Object.entries(output?.inputs ?? {})) {
    const inPackage = input.split('node_modules/').pop()!;
    const name = !input.includes('node_modules/')
      ? '(ours)'
      : inPackage.startsWith('@')
        ? inPackage.split('/').slice(0, 2).join('/')
        : inPackage.split('/')[0]!;
    bytes.set(name, (bytes.get(name) ?? 0) + bytesInOutput);
  }
  return [...bytes]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([name, size]) => `${name} ${(size / 1024).toFixed(0)} KiB`)
    .join(', ');
}

/**
 * A fresh node process importing the module: the import's wall time, and the process's CPU time
 * (user + system, from its start) once the import is done, both measured inside that process.
 */
function coldStart(file: string): { importMs: number; cpuMs: number } {
  const script =
    `const t=process.hrtime.bigint();await import(${JSON.stringify(file)});` +
    'const i=Number(process.hrtime.bigint()-t)/1e6;const u=process.cpuUsage();' +
    'console.log(JSON.stringify({importMs:i,cpuMs:(u.user+u.system)/1000}))';
  const output = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, TABLE_NAME: 'bench', AWS_REGION: 'us-east-1' },
  });
  return JSON.parse(output.toString().trim()) as { importMs: number; cpuMs: number };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}
