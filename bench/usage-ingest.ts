import { DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { LOCAL_AWS } from '../local/dynamodb-local.ts';
import { runConcurrently } from '../shared/concurrency.ts';
import { USAGE_SHARDS } from '../shared/domain/usage.ts';

import { countByCommand, recordStoreCalls, replayStoreCalls, type StoreCall } from './store-calls.ts';
import type { SummaryRow } from './summary.ts';
import {
  type BenchService,
  meteredSubscription,
  percentile,
  quickRequested,
  rawPutLatencies,
  startBenchService,
  timedEach,
} from './support.ts';
import { printTable } from './table.ts';

/**
 * Usage ingestion through the local HTTP API (token auth, validation, dedupe, transactions, the
 * same handler as the Lambda) with batches of 1, 100 and 1000 records, with the event path on (the
 * stream read, fanned out, the budget projection and the SmartGateway sync: the whole service, timed
 * until it has caught up) and held (the API path alone). The ceiling is the same store calls the API
 * makes for one such request (recorded from the service's client: GetItem of the subscription, the
 * counting transaction, a batch's duplicate check), sent raw at the same concurrency with the event
 * path held; raw PutItem of the same number of records is shown as the simplest baseline. Then the
 * latency of a single-record POST, one request at a time, next to its calls sent raw (measured
 * last, on the warm store, one mode after the other).
 *
 * All of it runs on one service, so on one DynamoDB Local, after a warm-up, in rounds: each round
 * times every mode once, and the order turns by one each round (starting one further on for each
 * batch size), so every mode runs once in every position. DynamoDB Local's JVM and Node's JIT keep
 * speeding up over the first few thousand requests (in a probe of ten rounds of 300 single-record
 * POSTs on one fresh store, from 45 to 150 records/s), so a mode measured on a colder store than its
 * ceiling, or always after it, would be compared with a ceiling measured in other conditions.
 * Each round sends `records / 4 / batch` requests per mode, `CONCURRENCY` at a time: a quick run's
 * batch of 1000 is a single request per round, so that row has one client (the table says so).
 * `--quick` (or BENCH_INGEST_QUICK=1): fewer records.
 */
const CONCURRENCY = 4;
/** Target: single-record ingest with the event path on at least this share of the ceiling. */
const SINGLE_TARGET = 0.6;

export async function benchUsageIngest(): Promise<SummaryRow[]> {
  const quick = quickRequested('BENCH_INGEST_QUICK');
  const plan = [
    { batch: 1, records: Number(process.env.BENCH_SINGLE_RECORDS ?? (quick ? 400 : 1600)) },
    { batch: 100, records: Number(process.env.BENCH_BATCH_RECORDS ?? (quick ? 2400 : 9600)) },
    { batch: 1000, records: Number(process.env.BENCH_BATCH_RECORDS ?? (quick ? 4000 : 16_000)) },
  ];
  const latencySamples = Number(process.env.BENCH_LATENCY_SAMPLES ?? (quick ? 100 : 300));
  /** Single-record requests (and as many of their calls sent raw) before anything is timed. */
  const warmUp = Number(process.env.BENCH_INGEST_WARMUP ?? (quick ? 1000 : 1500));

  const { rates, calls, latency } = await measure(plan, warmUp, latencySamples);
  printTable(
    `Usage ingestion, records/s (up to ${CONCURRENCY} concurrent clients; ${MODES.length} rounds after ${warmUp} requests to warm up): the API with the event path on and held, next to the same store calls sent raw`,
    [
      'batch size',
      'clients',
      'records',
      'API, event path on',
      'API, event path held',
      'ceiling: its store calls raw',
      'on ÷ ceiling',
      'held ÷ ceiling',
      'raw PutItem/s',
    ],
    plan.map(({ batch }, i) => [
      String(batch),
      String(rates[i]!.clients),
      String(rates[i]!.records),
      rates[i]!.on.toFixed(0),
      rates[i]!.held.toFixed(0),
      rates[i]!.ceiling.toFixed(0),
      (rates[i]!.on / rates[i]!.ceiling).toFixed(2),
      (rates[i]!.held / rates[i]!.ceiling).toFixed(2),
      rates[i]!.rawPut.toFixed(0),
    ]),
  );
  console.log(`Store calls per request: ${plan.map((p, i) => `batch ${p.batch}: ${calls[i]}`).join('; ')}`);
  const ms = (values: number[], p: number) => percentile(values, p).toFixed(1);
  printTable(
    `Single-record POST latency, one at a time, ${latencySamples} samples`,
    ['measure', 'p50 ms', 'p99 ms'],
    [
      ['POST /api/v1/usage-records, event path on', ms(latency.on, 50), ms(latency.on, 99)],
      ['POST /api/v1/usage-records, event path held', ms(latency.held, 50), ms(latency.held, 99)],
      ['ceiling: its store calls raw', ms(latency.ceiling, 50), ms(latency.ceiling, 99)],
      ['raw PutItem (simplest baseline)', ms(latency.rawPut, 50), ms(latency.rawPut, 99)],
    ],
  );
  return plan.map(({ batch }, i) => {
    const ratio = rates[i]!.on / rates[i]!.ceiling;
    return {
      benchmark: 'usage-ingest',
      measure: `batch of ${batch}, event path on, records/s`,
      value: rates[i]!.on.toFixed(0),
      ceiling: `${rates[i]!.ceiling.toFixed(0)} (its store calls raw)`,
      ratio: ratio.toFixed(2),
      target: batch === 1 ? `≥ ${SINGLE_TARGET.toFixed(2)}` : '',
      met: batch === 1 ? ratio >= SINGLE_TARGET : undefined,
    };
  });
}

const MODES = ['on', 'held', 'ceiling', 'rawPut'] as const;
type Mode = (typeof MODES)[number];
/** The order of the modes in round `turn`: turned by one each round. */
const modesOfRound = (turn: number) => MODES.map((_, i) => MODES[(i + turn) % MODES.length]!);

/** Every mode's rate per batch size, the store calls of one request, and the latencies. */
async function measure(plan: { batch: number; records: number }[], warmUp: number, samples: number) {
  const service = await startBenchService();
  const raw = new DynamoDBClient({ ...LOCAL_AWS, endpoint: service.runtime.dynamoDbEndpoint });
  /** The event path on, and everything written while it was held delivered. */
  const eventPathOn = async () => {
    service.runtime.resumeEventPath();
    await service.runtime.settled();
  };
  try {
    const { subscriptionId } = await meteredSubscription(service);
    const rates: ({ clients: number; records: number } & Record<Mode, number>)[] = [];
    const calls: string[] = [];
    /** One request's store calls, recorded with the event path held and the plan's prices cached (as
     * every request but one per PLAN_PRICES_CACHE_MS finds them); `template` starts its keys. */
    const record = async (batch: number, template: string) => {
      await service.runtime.pauseEventPath();
      await postUsage(service, subscriptionId, `primer-${template}`, batch);
      return recordStoreCalls(() => postUsage(service, subscriptionId, template, batch));
    };
    /** The recorded calls sent raw as the r-th of their kind: `template` keys renamed `prefix…`, on other shards. */
    const replay = (recorded: StoreCall[], template: string, prefix: string, r: number) =>
      replayStoreCalls(raw, recorded, (json) =>
        onOtherShards(json.replaceAll(template, `${prefix}${r}-`), r),
      );
    const warmUpCalls = await record(1, 'warm-up-recorded-');
    await eventPathOn();
    await runConcurrently(warmUp, CONCURRENCY, (r) => postUsage(service, subscriptionId, `warm-up-${r}-`, 1));
    await runConcurrently(warmUp, CONCURRENCY, (r) =>
      replay(warmUpCalls, 'warm-up-recorded-', 'warm-up-raw-', r),
    );
    for (const [run, { batch, records }] of plan.entries()) {
      const requests = Math.ceil(records / batch / MODES.length);
      const template = `recorded-${run}-`;
      const recorded = await record(batch, template);
      calls.push(countByCommand(recorded));
      const seconds: Record<Mode, number> = { on: 0, held: 0, ceiling: 0, rawPut: 0 };
      for (let round = 0; round < MODES.length; round++) {
        const keys = `${run}-${round}`;
        const post = (prefix: string) => (r: number) =>
          postUsage(service, subscriptionId, `${prefix}-${keys}-${r}-`, batch);
        const work: Record<Mode, () => Promise<unknown>> = {
          on: async () => {
            await runConcurrently(requests, CONCURRENCY, post('on'));
            await service.runtime.settled();
          },
          held: () => runConcurrently(requests, CONCURRENCY, post('held')),
          ceiling: () =>
            runConcurrently(requests, CONCURRENCY, (r) => replay(recorded, template, `ceiling-${keys}-`, r)),
          rawPut: () =>
            runConcurrently(requests * batch, CONCURRENCY, async (i) => {
              await raw.send(
                new PutItemCommand({
                  TableName: service.runtime.tables.billing,
                  Item: { PK: { S: `RAW#${keys}#${i}` }, SK: { S: 'RAW' }, quantity: { N: '1' } },
                }),
              );
            }),
        };
        for (const mode of modesOfRound(round + run)) {
          if (mode === 'on') await eventPathOn();
          else await service.runtime.pauseEventPath();
          seconds[mode] += await timed(work[mode]);
        }
      }
      const counted = requests * batch * MODES.length;
      rates.push({
        clients: Math.min(CONCURRENCY, requests),
        records: counted,
        ...(Object.fromEntries(MODES.map((mode) => [mode, counted / seconds[mode]])) as Record<Mode, number>),
      });
    }

    await eventPathOn();
    const on = await timedEach(samples, (i) => postUsage(service, subscriptionId, `latency-on-${i}-`, 1));
    await service.runtime.pauseEventPath();
    const held = await timedEach(samples, (i) => postUsage(service, subscriptionId, `latency-held-${i}-`, 1));
    const recorded = await record(1, 'latency-recorded-');
    const ceiling = await timedEach(samples, (i) => replay(recorded, 'latency-recorded-', 'latency-raw-', i));
    const rawPut = await rawPutLatencies(raw, service.runtime.tables.billing, samples, (i) => ({
      PK: { S: `RAWLAT#${i}` },
      SK: { S: 'RAW' },
    }));
    await eventPathOn();
    return { rates, calls, latency: { on, held, ceiling, rawPut } };
  } finally {
    raw.destroy();
    await service.stop();
  }
}

/**
 * The replay's counter shards moved on by `by`: the service spreads concurrent requests over the
 * usage shards (a random first shard, the next on a conflict), so its ceiling must not pile every
 * replay onto the shards of the one recorded request.
 */
function onOtherShards(json: string, by: number): string {
  const shift = (_: string, key: string, shard: string) => `${key}${(Number(shard) + by) % USAGE_SHARDS}"`;
  return json
    .replace(/(USAGE_AGG#[^#"]+#)(\d+)"/g, shift)
    .replace(/(USAGE_RECORDS#[^#"]+#[^#"]+#)(\d+)"/g, shift)
    .replace(/(PERIOD_CLOSED#[^#"]+#)(\d+)"/g, shift);
}

/** One POST of `batch` records whose keys start with `prefix`; every record must be accepted. */
async function postUsage(service: BenchService, subscriptionId: string, prefix: string, batch: number) {
  const body = Array.from({ length: batch }, (_, i) => ({
    subscription_id: subscriptionId,
    idempotency_key: `${prefix}${i}`,
    metric: 'calls',
    quantity: 1,
  }));
  const result = await service.call(
    'POST',
    '/api/v1/usage-records',
    batch === 1 ? body[0] : { records: body },
  );
  if ((result as { accepted?: number }).accepted !== batch)
    throw new Error(`not all accepted: ${JSON.stringify(result)}`);
}

/** Seconds `work` took. */
async function timed(work: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await work();
  return (performance.now() - started) / 1000;
}
