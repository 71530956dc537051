import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type AttributeValue, type DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { mintDevToken } from '../local/dev-auth.ts';
import { type LocalRuntime, startLocalRuntime } from '../local/runtime.ts';
import { SCOPES } from '../shared/http/routes.ts';

export type BenchService = {
  runtime: LocalRuntime;
  call: (
    method: string,
    path: string,
    body: unknown,
  ) => Promise<{ id: string; version: number } & Record<string, unknown>>;
  stop: () => Promise<void>;
};

/**
 * The local service in memory on a free port, with an operator token, as the benchmarks drive it;
 * `eventPath: false` leaves the stream unread (the API path alone, local/runtime.ts).
 */
export async function startBenchService(options: { eventPath?: boolean } = {}): Promise<BenchService> {
  const dataDir = mkdtempSync(join(tmpdir(), 'billing-bench-'));
  const runtime = await startLocalRuntime({
    port: 0,
    dataDir,
    inMemory: true,
    quiet: true,
    ...(options.eventPath === undefined ? {} : { eventPath: options.eventPath }),
  });
  const token = await mintDevToken(runtime.keys, { scopes: Object.values(SCOPES) });
  return {
    runtime,
    call: async (method, path, body) => {
      const response = await fetch(`${runtime.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      if (!response.ok) throw new Error(`${method} ${path} → ${response.status} ${await response.text()}`);
      return (await response.json()) as { id: string; version: number };
    },
    stop: async () => {
      await runtime.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * A monthly USD plan with a metered `calls` price at 0.04 cents, plus `extraPrices` (request bodies
 * of POST /prices without `plan_id`), created through the local HTTP API.
 */
export async function meteredPlan(
  service: BenchService,
  extraPrices: Record<string, unknown>[] = [],
  /** When a flat fee is billed: in arrears, a period's close bills its fee with its usage on one invoice. */
  feeTiming: 'in_advance' | 'in_arrears' = 'in_arrears',
): Promise<{ planId: string }> {
  const product = await service.call('POST', '/api/v1/products', { name: 'Bench' });
  const plan = await service.call('POST', '/api/v1/plans', {
    product_id: product.id,
    name: 'Bench',
    currency: 'USD',
    interval: 'month',
    fee_timing: feeTiming,
    total_budget: 1_000_000,
  });
  for (const price of [{ model: 'per_unit', metric: 'calls', unit_amount_decimal: '0.04' }, ...extraPrices]) {
    await service.call('POST', '/api/v1/prices', { plan_id: plan.id, ...price });
  }
  return { planId: plan.id };
}

/** A new customer subscribed to `planId`, through the local HTTP API. */
export async function subscribeCustomer(
  service: BenchService,
  planId: string,
  customer: { name: string; email: string },
): Promise<{ customerId: string; subscription: { id: string; version: number } & Record<string, unknown> }> {
  const created = await service.call('POST', '/api/v1/customers', customer);
  const subscription = await service.call('POST', '/api/v1/subscriptions', {
    customer_id: created.id,
    plan_id: planId,
  });
  return { customerId: created.id, subscription };
}

/** A customer subscribed to a monthly USD plan with a metered `calls` price at 0.04 cents. */
export async function meteredSubscription(
  service: BenchService,
): Promise<{ customerId: string; subscriptionId: string }> {
  const { planId } = await meteredPlan(service);
  const { customerId, subscription } = await subscribeCustomer(service, planId, {
    name: 'Bench',
    email: 'bench@example.com',
  });
  return { customerId, subscriptionId: subscription.id };
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/**
 * The in-run baseline: `count` PutItem calls sent raw to the same store, one at a time, each timed
 * (ms). `itemOf(i)` is the i-th item, keys included.
 */
export async function rawPutLatencies(
  client: DynamoDBClient,
  tableName: string,
  count: number,
  itemOf: (i: number) => Record<string, AttributeValue>,
): Promise<number[]> {
  return timedEach(count, (i) => client.send(new PutItemCommand({ TableName: tableName, Item: itemOf(i) })));
}

/** `count` runs of `work`, one at a time, each timed (ms). */
export async function timedEach(count: number, work: (i: number) => Promise<unknown>): Promise<number[]> {
  const ms: number[] = [];
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    await work(i);
    ms.push(performance.now() - started);
  }
  return ms;
}

/** Whether the run asked for the short version (`--quick` among its options, or `envName`=1). */
export function quickRequested(envName?: string): boolean {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: { quick: { type: 'boolean' } },
    allowPositionals: true,
    strict: false,
  });
  return values.quick === true || (envName !== undefined && process.env[envName] === '1');
}
