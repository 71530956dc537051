import { DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { LOCAL_AWS } from '../local/dynamodb-local.ts';
import { runConcurrently } from '../shared/concurrency.ts';
import { meteredSubscription, percentile, rawPutLatencies, startBenchService } from './support.ts';
import { printTable } from './table.ts';

/**
 * Usage ingestion through the local HTTP API (token auth, validation, dedupe, transactions, the
 * same handler as the Lambda) with batches of 1, 100 and 1000 records, next to the same number of
 * raw PutItem calls straight into the same DynamoDB Local in the same run. Then the latency of a
 * single-record POST, one request at a time.
 */
const CONCURRENCY = 4;
const PLAN = [
  { batch: 1, records: Number(process.env.BENCH_SINGLE_RECORDS ?? 1000) },
  { batch: 100, records: Number(process.env.BENCH_BATCH_RECORDS ?? 10_000) },
  { batch: 1000, records: Number(process.env.BENCH_BATCH_RECORDS ?? 10_000) },
];
const LATENCY_SAMPLES = Number(process.env.BENCH_LATENCY_SAMPLES ?? 300);

export async function benchUsageIngest(): Promise<void> {
  const service = await startBenchService();
  const raw = new DynamoDBClient({ ...LOCAL_AWS, endpoint: service.runtime.dynamoDbEndpoint });
  try {
    const { subscriptionId } = await meteredSubscription(service);
    const rows: string[][] = [];
    let run = 0;
    for (const { batch, records } of PLAN) {
      run++;
      const requests = Math.ceil(records / batch);
      const started = performance.now();
      await runConcurrently(requests, CONCURRENCY, async (r) => {
        const body = Array.from({ length: batch }, (_, i) => ({
          subscription_id: subscriptionId,
          idempotency_key: `bench-${run}-${r}-${i}`,
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
      });
      const apiSeconds = (performance.now() - started) / 1000;

      const rawStarted = performance.now();
      await runConcurrently(records, CONCURRENCY, async (i) => {
        await raw.send(
          new PutItemCommand({
            TableName: service.runtime.tables.billing,
            Item: { PK: { S: `RAW#${run}#${i}` }, SK: { S: 'RAW' }, quantity: { N: '1' } },
          }),
        );
      });
      const rawSeconds = (performance.now() - rawStarted) / 1000;
      const apiRate = records / apiSeconds;
      const rawRate = records / rawSeconds;
      rows.push([
        String(batch),
        String(records),
        apiRate.toFixed(0),
        rawRate.toFixed(0),
        (apiRate / rawRate).toFixed(2),
      ]);
    }
    printTable(
      `Usage ingestion through the local HTTP API vs raw PutItem on the same DynamoDB Local (${CONCURRENCY} concurrent clients each)`,
      ['batch size', 'records', 'API records/s', 'raw PutItem/s', 'API ÷ raw'],
      rows,
    );

    const latencies: number[] = [];
    for (let i = 0; i < LATENCY_SAMPLES; i++) {
      const started = performance.now();
      await service.call('POST', '/api/v1/usage-records', {
        subscription_id: subscriptionId,
        idempotency_key: `latency-${i}`,
        metric: 'calls',
        quantity: 1,
      });
      latencies.push(performance.now() - started);
    }
    const rawLatencies = await rawPutLatencies(raw, service.runtime.tables.billing, LATENCY_SAMPLES, (i) => ({
      PK: { S: `RAWLAT#${i}` },
      SK: { S: 'RAW' },
    }));
    printTable(
      `Single-record POST latency, one at a time, ${LATENCY_SAMPLES} samples`,
      ['measure', 'p50 ms', 'p99 ms'],
      [
        [
          'POST /api/v1/usage-records (1 record)',
          percentile(latencies, 50).toFixed(1),
          percentile(latencies, 99).toFixed(1),
        ],
        [
          'raw PutItem (baseline)',
          percentile(rawLatencies, 50).toFixed(1),
          percentile(rawLatencies, 99).toFixed(1),
        ],
      ],
    );
  } finally {
    raw.destroy();
    await service.stop();
  }
}
