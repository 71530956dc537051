import { DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { LOCAL_AWS } from '../local/dynamodb-local.ts';
import { runConcurrently } from '../shared/concurrency.ts';
import { USAGE_SHARDS } from '../shared/domain/usage.ts';
import { countByCommand, recordStoreCalls, replayStoreCalls } from './store-calls.ts';
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
 * same handler as the Lambda) with batches of 1, 100 and 1000 records, twice: with the event path
 * on (the stream read, fanned out, the budget projection and the SmartGateway sync: the whole
 * service) and off (the API path alone). The ceiling is the same store calls the API makes for one
 * such request (recorded from the service's client: GetItem of the subscription, Query of its plan's
 * prices, the counting transaction), sent raw at the same concurrency on the service with the event
 * path off; raw PutItem of the same number of records is shown as the simplest baseline. Then the
 * latency of a single-record POST, one request at a time, next to its calls sent raw.
 * `--quick` (or BENCH_INGEST_QUICK=1): fewer records.
 */
const CONCURRENCY = 4;
/** Target: single-record ingest with the event path on at least this share of the ceiling. */
const SINGLE_TARGET = 0.6;

export async function benchUsageIngest(): Promise<SummaryRow[]> {
  const quick = quickRequested('BENCH_INGEST_QUICK');
  const plan = [
    { batch: 1, records: Number(process.env.BENCH_SINGLE_RECORDS ?? (quick ? 300 : 1000)) },
    { batch: 100, records: Number(process.env.BENCH_BATCH_RECORDS ?? (quick ? 2000 : 10_000)) },
    { batch: 1000, records: Number(process.env.BENCH_BATCH_RECORDS ?? (quick ? 3000 : 10_000)) },
  ];
  const latencySamples = Number(process.env.BENCH_LATENCY_SAMPLES ?? (quick ? 100 : 300));

  const on = await measure(true, plan, latencySamples);
  const off = await measure(false, plan, latencySamples);
  printTable(
    `Usage ingestion, records/s (${CONCURRENCY} concurrent clients): the API with the event path on and off, next to the same store calls sent raw`,
    [
      'batch size',
      'records',
      'API, event path on',
      'API, event path off',
      'ceiling: its store calls raw',
      'on ÷ ceiling',
      'off ÷ ceiling',
      'raw PutItem/s',
    ],
    plan.map(({ batch, records }, i) => [
      String(batch),
      String(records),
      on.rates[i]!.api.toFixed(0),
      off.rates[i]!.api.toFixed(0),
      off.rates[i]!.ceiling.toFixed(0),
      (on.rates[i]!.api / off.rates[i]!.ceiling).toFixed(2),
      (off.rates[i]!.api / off.rates[i]!.ceiling).toFixed(2),
      off.rates[i]!.rawPut.toFixed(0),
    ]),
  );
  console.log(
    `Store calls per request: ${plan.map((p, i) => `batch ${p.batch}: ${off.calls[i]}`).join('; ')}`,
  );
  const ms = (values: number[], p: number) => percentile(values, p).toFixed(1);
  printTable(
    `Single-record POST latency, one at a time, ${latencySamples} samples`,
    ['measure', 'p50 ms', 'p99 ms'],
    [
      ['POST /api/v1/usage-records, event path on', ms(on.latency.api, 50), ms(on.latency.api, 99)],
      ['POST /api/v1/usage-records, event path off', ms(off.latency.api, 50), ms(off.latency.api, 99)],
      ['ceiling: its store calls raw', ms(off.latency.ceiling, 50), ms(off.latency.ceiling, 99)],
      ['raw PutItem (simplest baseline)', ms(off.latency.rawPut, 50), ms(off.latency.rawPut, 99)],
    ],
  );
  return plan.map(({ batch }, i) => {
    const ratio = on.rates[i]!.api / off.rates[i]!.ceiling;
    return {
      benchmark: 'usage-ingest',
      measure: `batch of ${batch}, event path on, records/s`,
      value: on.rates[i]!.api.toFixed(0),
      ceiling: `${off.rates[i]!.ceiling.toFixed(0)} (its store calls raw)`,
      ratio: ratio.toFixed(2),
      target: batch === 1 ? `≥ ${SINGLE_TARGET.toFixed(2)}` : '',
      met: batch === 1 ? ratio >= SINGLE_TARGET : undefined,
    };
  });
}

type Rates = { api: number; ceiling: number; rawPut: number };

/** One service (event path on or off): its API rates, and on the one with it off the ceilings too. */
async function measure(eventPath: boolean, plan: { batch: number; records: number }[], samples: number) {
  const service = await startBenchService({ eventPath });
  const raw = new DynamoDBClient({ ...LOCAL_AWS, endpoint: service.runtime.dynamoDbEndpoint });
  try {
    const { subscriptionId } = await meteredSubscription(service);
    const rates: Rates[] = [];
    const calls: string[] = [];
    for (const [run, { batch, records }] of plan.entries()) {
      const requests = Math.ceil(records / batch);
      const post = (r: number) => postUsage(service, subscriptionId, `bench-${run}-${r}-`, batch);
      const api = records / (await seconds(() => runConcurrently(requests, CONCURRENCY, post)));
      if (eventPath) {
        rates.push({ api, ceiling: Number.NaN, rawPut: Number.NaN });
        continue;
      }
      const recorded = await recordStoreCalls(() => post(requests));
      calls.push(countByCommand(recorded));
      const replay = (r: number) =>
        replayStoreCalls(raw, recorded, (json) =>
          onOtherShards(json.replaceAll(`bench-${run}-${requests}-`, `ceiling-${run}-${r}-`), r),
        );
      const ceiling = records / (await seconds(() => runConcurrently(requests, CONCURRENCY, replay)));
      const rawPut =
        records /
        (await seconds(() =>
          runConcurrently(records, CONCURRENCY, async (i) => {
            await raw.send(
              new PutItemCommand({
                TableName: service.runtime.tables.billing,
                Item: { PK: { S: `RAW#${run}#${i}` }, SK: { S: 'RAW' }, quantity: { N: '1' } },
              }),
            );
          }),
        ));
      rates.push({ api, ceiling, rawPut });
    }

    const api = await timedEach(samples, (i) => postUsage(service, subscriptionId, `latency-${i}-`, 1));
    if (eventPath) return { rates, calls, latency: { api, ceiling: [], rawPut: [] } };
    const recorded = await recordStoreCalls(() => postUsage(service, subscriptionId, 'latency-recorded-', 1));
    const ceiling = await timedEach(samples, (i) =>
      replayStoreCalls(raw, recorded, (json) =>
        onOtherShards(json.replaceAll('latency-recorded-', `latency-raw-${i}-`), i),
      ),
    );
    const rawPut = await rawPutLatencies(raw, service.runtime.tables.billing, samples, (i) => ({
      PK: { S: `RAWLAT#${i}` },
      SK: { S: 'RAW' },
    }));
    return { rates, calls, latency: { api, ceiling, rawPut } };
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

async function seconds(work: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await work();
  return (performance.now() - started) / 1000;
}
