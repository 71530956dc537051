import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { mintDevToken } from '../local/dev-auth.ts';
import { LOCAL_AWS } from '../local/dynamodb-local.ts';
import { freePort } from '../local/ports.ts';
import { startLocalRuntime } from '../local/runtime.ts';
import { SCOPES } from '../shared/http/routes.ts';
import { printTable } from './table.ts';

/**
 * Time from a PATCH response to the SmartGateway budget row showing the change, in local mode
 * (stream poller → fan-out → local bus → sync), next to one raw PutItem on the same DynamoDB Local
 * in the same run. The row is polled directly in the store every 2 ms.
 */
const CHANGES = Number(process.env.BENCH_CHANGES ?? 200);

export async function benchBudgetSync(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'billing-bench-'));
  const runtime = await startLocalRuntime({ port: await freePort(), dataDir, inMemory: true, quiet: true });
  const client = new DynamoDBClient({ ...LOCAL_AWS, endpoint: runtime.dynamoDbEndpoint });
  try {
    const token = await mintDevToken(runtime.keys, { scopes: Object.values(SCOPES) });
    const call = async (method: string, path: string, body: unknown) => {
      const response = await fetch(`${runtime.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      if (!response.ok) throw new Error(`${method} ${path} → ${response.status} ${await response.text()}`);
      return (await response.json()) as { id: string; version: number };
    };
    const product = await call('POST', '/api/v1/products', { name: 'Bench' });
    const plan = await call('POST', '/api/v1/plans', {
      product_id: product.id,
      name: 'Bench',
      currency: 'USD',
      interval: 'month',
      total_budget: 1,
    });
    const customer = await call('POST', '/api/v1/customers', { name: 'Bench', email: 'bench@example.com' });
    const subscription = await call('POST', '/api/v1/subscriptions', {
      customer_id: customer.id,
      plan_id: plan.id,
    });
    const key = { tenant_id: { S: customer.id }, subscription_id: { S: subscription.id } };
    const rowVersion = async () => {
      const { Item } = await client.send(
        new GetItemCommand({ TableName: runtime.tables.budgets, Key: key, ConsistentRead: true }),
      );
      return Number(Item?.version?.N ?? 0);
    };
    while ((await rowVersion()) < 1) await sleep(2);

    const syncMs: number[] = [];
    for (let i = 0; i < CHANGES; i++) {
      const updated = await call('PATCH', `/api/v1/subscriptions/${subscription.id}`, {
        total_budget: 1000 + i,
      });
      const patched = performance.now();
      while ((await rowVersion()) < updated.version) await sleep(2);
      syncMs.push(performance.now() - patched);
    }

    const rawMs: number[] = [];
    for (let i = 0; i < CHANGES; i++) {
      const started = performance.now();
      await client.send(
        new PutItemCommand({
          TableName: runtime.tables.billing,
          Item: { PK: { S: `BENCH#${i}` }, SK: { S: 'RAW' }, n: { N: String(i) } },
        }),
      );
      rawMs.push(performance.now() - started);
    }

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
  } finally {
    client.destroy();
    await runtime.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const fmt = (ms: number) => ms.toFixed(1);

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}
