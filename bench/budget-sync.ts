import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { LOCAL_AWS } from '../local/dynamodb-local.ts';
import type { SummaryRow } from './summary.ts';
import {
  meteredSubscription,
  percentile,
  quickRequested,
  rawPutLatencies,
  startBenchService,
} from './support.ts';
import { printTable } from './table.ts';

/**
 * Time from a PATCH response to the SmartGateway budget row showing the change, in local mode
 * (stream poller → fan-out → local bus → sync), next to one raw PutItem on the same DynamoDB Local
 * in the same run. The row is polled directly in the store every 2 ms.
 */
export async function benchBudgetSync(): Promise<SummaryRow[]> {
  const CHANGES = Number(process.env.BENCH_CHANGES ?? (quickRequested() ? 50 : 200));
  const service = await startBenchService();
  const { runtime, call } = service;
  const client = new DynamoDBClient({ ...LOCAL_AWS, endpoint: runtime.dynamoDbEndpoint });
  try {
    const { customerId, subscriptionId } = await meteredSubscription(service);
    const key = { tenant_id: { S: customerId }, subscription_id: { S: subscriptionId } };
    const rowVersion = async () => {
      const { Item } = await client.send(
        new GetItemCommand({ TableName: runtime.tables.budgets, Key: key, ConsistentRead: true }),
      );
      return Number(Item?.version?.N ?? 0);
    };
    while ((await rowVersion()) < 1) await sleep(2);

    const syncMs: number[] = [];
    for (let i = 0; i < CHANGES; i++) {
      const updated = await call('PATCH', `/api/v1/subscriptions/${subscriptionId}`, {
        total_budget: 1000 + i,
      });
      const patched = performance.now();
      while ((await rowVersion()) < updated.version) await sleep(2);
      syncMs.push(performance.now() - patched);
    }

    const rawMs = await rawPutLatencies(client, runtime.tables.billing, CHANGES, (i) => ({
      PK: { S: `BENCH#${i}` },
      SK: { S: 'RAW' },
      n: { N: String(i) },
    }));

    const raw = percentile(rawMs, 50);
    printTable(
      `PATCH /subscriptions → SmartGateway budget row updated, local mode, ${CHANGES} changes`,
      ['measure', 'median ms', 'p99 ms', 'x raw write median'],
      [
        [
          'PATCH response → budget row changed',
          fmt(percentile(syncMs, 50)),
          fmt(percentile(syncMs, 99)),
          (percentile(syncMs, 50) / raw).toFixed(1),
        ],
        ['one raw PutItem (baseline)', fmt(raw), fmt(percentile(rawMs, 99)), '1.0'],
      ],
    );
    return [
      {
        benchmark: 'budget-sync',
        measure: 'PATCH → SmartGateway row, median ms',
        value: fmt(percentile(syncMs, 50)),
        ceiling: `${fmt(raw)} (one raw PutItem)`,
        ratio: (percentile(syncMs, 50) / raw).toFixed(1),
        target: '',
      },
    ];
  } finally {
    client.destroy();
    await service.stop();
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const fmt = (ms: number) => ms.toFixed(1);
