import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ensureTables, startDynamoDbLocal } from '../local/dynamodb-local.ts';
import { freePort } from '../local/ports.ts';
import { LOCAL_TABLES } from '../local/runtime.ts';
import { treeCpuShare } from './process-cpu.ts';
import type { SummaryRow } from './summary.ts';
import { printTable } from './table.ts';

/**
 * What `npm start` costs while nothing happens: the whole process tree (npm, the service's Node
 * process, DynamoDB Local's JVM, its watchdog) as a share of one core, after a settling time, next to
 * DynamoDB Local alone started the same way with the same tables, idle in the same run (the floor
 * the service adds to), both measured at the same time.
 * Target: under 3 % of one core. `--quick`: 20 s settling, 10 s measured (otherwise 30 s and 60 s):
 * DynamoDB Local's JVM is still busy with what start-up ran for some 30 s, so quick reads higher.
 */
const TARGET = 0.03;

export async function benchIdle(): Promise<SummaryRow[]> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: { quick: { type: 'boolean' } },
    allowPositionals: true,
    strict: false,
  });
  const quick = values.quick === true;
  const settle = quick ? 20 : 30;
  const window = quick ? 10 : 60;

  // Both started, then both settled and measured over the same window: idle, each uses a few
  // hundredths of one of the two cores.
  const service = await startNpmStart();
  let rows: { command: string; share: number }[];
  let alone: number;
  try {
    const floor = await startFloorStore();
    try {
      await new Promise((resolve) => setTimeout(resolve, settle * 1000));
      const [serviceTree, floorTree] = await Promise.all([
        treeCpuShare(service.child.pid!, window),
        treeCpuShare(floor.pid, window),
      ]);
      rows = serviceTree;
      alone = floorTree[0]?.share ?? 0;
    } finally {
      await floor.stop();
    }
  } finally {
    await service.stop();
  }
  const total = rows.reduce((sum, r) => sum + r.share, 0);
  const percent = (share: number) => `${(share * 100).toFixed(2)} %`;
  printTable(
    `Idle CPU of \`npm start\` (data on disk), share of one core over ${window} s after ${settle} s settling`,
    ['process', 'CPU'],
    [
      ...rows.map((r) => [r.command.slice(0, 70), percent(r.share)]),
      ['npm start, all processes', percent(total)],
      ['DynamoDB Local with the same tables, alone (floor, same run)', percent(alone)],
    ],
  );
  return [
    {
      benchmark: 'idle',
      measure: 'idle CPU of npm start (share of one core)',
      value: percent(total),
      ceiling: `${percent(alone)} DynamoDB Local with its tables alone`,
      ratio: '',
      target: `< ${percent(TARGET)}`,
      met: total < TARGET,
    },
  ];
}

/** `npm start` on a free port and a fresh data folder, as a user runs it; resolves once it listens. */
async function startNpmStart(): Promise<{ child: ChildProcess; stop: () => Promise<void> }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'billing-idle-'));
  const port = await freePort();
  const child = spawn('npm', ['start', '--silent'], {
    env: { ...process.env, PORT: String(port), BILLING_DATA_DIR: dataDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`npm start did not listen within 120 s:\n${output}`)),
      120_000,
    );
    const check = (chunk: Buffer) => {
      output += String(chunk);
      if (output.includes('listening on')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on('data', check);
    child.stderr.on('data', check);
    child.once('close', () => reject(new Error(`npm start exited:\n${output}`)));
  });
  return {
    child,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * DynamoDB Local holding the service's tables and nothing else running. Created the same way, the
 * tables give its JVM the same start-up work to finish (for some 30 s after they are made, an idle
 * store with a stream and TTL on used about twice the CPU of an empty one in a probe; later, the same).
 */
async function startFloorStore(): Promise<{ pid: number; stop: () => Promise<void> }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'billing-idle-ddb-'));
  const store = await startDynamoDbLocal({ dataDir });
  await ensureTables(store.client, LOCAL_TABLES);
  return {
    pid: store.pid!,
    stop: async () => {
      await store.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
