import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { LOCAL_AWS } from '../local/dynamodb-local.ts';
import { runConcurrently } from '../shared/concurrency.ts';
import { BudgetGuard } from '../shared/smart-gateway/budget-check.ts';
import type { BudgetRow } from '../shared/smart-gateway/budget-row.ts';
import { dynamoRaw } from '../shared/store/client.ts';
import type { SummaryRow } from './summary.ts';
import {
  type BenchService,
  percentile,
  quickRequested,
  rawPutLatencies,
  startBenchService,
  subscribeCustomer,
} from './support.ts';
import { printTable } from './table.ts';

/**
 * The spend path (docs/smart-gateway.md, "How the row is made"), in local mode: 16 clients each
 * POST single usage records on one subscription with 1, 20 and 200 metrics, after one client alone
 * (1 cent per unit, so the spend is the units counted). Reported, each next to one raw PutItem on the same DynamoDB Local
 * measured in the same run:
 * - SmartGateway store writes (every call the handlers make on the budgets table) per usage POST,
 *   and the billing-side projector's transactions per POST;
 * - usage → budgets row latency: from a POST's answer until the row's current_spend covers every
 *   record answered by then (the row is read in the store every 2 ms);
 * - dead letters (stream, bus, queue): must be none.
 * Then the overshoot: clients sending usage at a fixed rate against a hard cap, each request let
 * through by a gateway check on the newest row the gateway has (read every 10 ms), with a naive
 * check (`cost ≤ remaining`) and with `BudgetGuard` (the reservation): money past the cap, and how
 * long the row still showed room after the cap was reached.
 *
 * `--quick` (or BENCH_SPEND_QUICK=1): fewer requests per client.
 */
const CLIENTS = 16;
/** (clients, metrics): one client first, for the latency of the path when nothing queues. */
const RUNS = [
  { clients: 1, metrics: 1 },
  { clients: CLIENTS, metrics: 1 },
  { clients: CLIENTS, metrics: 20 },
  { clients: CLIENTS, metrics: 200 },
];

export async function benchSpendPath(): Promise<SummaryRow[]> {
  const quick = quickRequested('BENCH_SPEND_QUICK');
  const summary: SummaryRow[] = [];
  const perClient = quick ? 15 : 60;
  const service = await startBenchService();
  const raw = new DynamoDBClient({ ...LOCAL_AWS, endpoint: service.runtime.dynamoDbEndpoint });
  const calls = countStoreCalls(service);
  try {
    const rows: (string | number)[][] = [];
    const rawMs = await rawPutLatencies(raw, service.runtime.tables.budgets, 200, (i) => ({
      tenant_id: { S: 'bench' },
      subscription_id: { S: `raw-${i}` },
      n: { N: String(i) },
    }));
    const rawP50 = percentile(rawMs, 50);
    for (const { clients, metrics } of RUNS) {
      const { subscriptionId, customerId } = await subscriptionWith(service, metrics, 1_000_000_000);
      await service.runtime.settled();
      calls.reset();
      const answered: { at: number; units: number }[] = [];
      let units = 0;
      const samples = sampleRow(raw, service, customerId, subscriptionId);
      const posts = clients === 1 ? 4 * perClient : clients * perClient;
      await runConcurrently(posts, clients, async (i) => {
        const quantity = 1 + (i % 5);
        await service.call('POST', '/api/v1/usage-records', {
          subscription_id: subscriptionId,
          idempotency_key: `spend-${clients}-${metrics}-${i}`,
          metric: `m${i % metrics}`,
          quantity,
        });
        units += quantity;
        answered.push({ at: performance.now(), units });
      });
      await service.runtime.settled();
      const timeline = await samples.stop();
      const latencies = answered.map(({ at, units: covered }) => {
        const seen = timeline.find((s) => s.at >= at && s.spend >= covered) ?? timeline.at(-1)!;
        return Math.max(0, seen.at - at);
      });
      const dead = await deadLetters(service);
      const writesPerPost = calls.gatewayWrites() / answered.length;
      const exact = timeline.at(-1)?.spend === units;
      summary.push({
        benchmark: 'spend-path',
        measure: `${clients} clients, ${metrics} metrics: gateway writes per usage POST (0 dead letters, spend exact)`,
        value: `${writesPerPost.toFixed(2)}, ${dead} dead, ${exact ? 'exact' : 'NOT exact'}`,
        ceiling: `usage→row p50 ${percentile(latencies, 50).toFixed(1)} ms vs raw write ${rawP50.toFixed(1)} ms`,
        ratio: (percentile(latencies, 50) / rawP50).toFixed(1),
        target: '≤ 1.20 writes',
        met: writesPerPost <= 1.2 && dead === 0 && exact,
      });
      rows.push([
        clients,
        metrics,
        answered.length,
        (calls.gatewayWrites() / answered.length).toFixed(2),
        (calls.projectorWrites() / answered.length).toFixed(2),
        latencies.length ? percentile(latencies, 50).toFixed(1) : '-',
        latencies.length ? percentile(latencies, 99).toFixed(1) : '-',
        (percentile(latencies, 50) / rawP50).toFixed(1),
        dead,
        timeline.at(-1)?.spend === units ? 'exact' : `${timeline.at(-1)?.spend} of ${units}`,
      ]);
    }
    printTable(
      `Spend path, local mode: single-record POSTs (raw PutItem p50 ${rawP50.toFixed(1)} ms, p99 ${percentile(rawMs, 99).toFixed(1)} ms, same run)`,
      [
        'clients',
        'metrics',
        'POSTs',
        'gateway writes/POST',
        'projector txns/POST',
        'usage→row p50 ms',
        'p99 ms',
        'p50 x raw write',
        'dead letters',
        'final spend',
      ],
      rows,
    );
    await overshoot(service, raw, quick);
    return summary;
  } finally {
    calls.stop();
    raw.destroy();
    await service.stop();
  }
}

/** A plan of `metrics` per-unit metrics at 1 cent, capped hard at `budget`, and a subscription to it. */
async function subscriptionWith(service: BenchService, metrics: number, budget: number) {
  const product = await service.call('POST', '/api/v1/products', { name: `Spend ${metrics}` });
  const plan = await service.call('POST', '/api/v1/plans', {
    product_id: product.id,
    name: `Spend ${metrics}`,
    currency: 'USD',
    interval: 'month',
    total_budget: budget,
    budget_policy: { enforcement: 'hard', thresholds: [{ percent: 50 }, { percent: 80 }] },
  });
  await runConcurrently(metrics, 4, async (m) => {
    await service.call('POST', '/api/v1/prices', {
      plan_id: plan.id,
      model: 'per_unit',
      metric: `m${m}`,
      unit_amount_decimal: '1',
    });
  });
  const { customerId, subscription } = await subscribeCustomer(service, plan.id, {
    name: `Spend ${metrics} ${budget}`,
    email: `spend${metrics}-${budget}@example.com`,
  });
  return { subscriptionId: subscription.id, customerId };
}

/** Every store call the in-process handlers make, by table: the budgets table's are the gateway's. */
function countStoreCalls(service: BenchService) {
  const counts = { gateway: 0, projector: 0 };
  const writes = new Set([
    'PutItemCommand',
    'UpdateItemCommand',
    'DeleteItemCommand',
    'BatchWriteItemCommand',
  ]);
  const stack = dynamoRaw().middlewareStack;
  const name = 'bench-count-store-calls';
  stack.add(
    (next, context) => async (args) => {
      const input = args.input as unknown as {
        TableName?: string;
        TransactItems?: { Put?: { Item?: { SK?: unknown } } }[];
      };
      if (writes.has(String(context.commandName)) && input.TableName === service.runtime.tables.budgets)
        counts.gateway++;
      if (
        context.commandName === 'TransactWriteItemsCommand' &&
        JSON.stringify(input.TransactItems ?? []).includes('"BUDGET"')
      )
        counts.projector++;
      return next(args);
    },
    { step: 'initialize', name },
  );
  return {
    gatewayWrites: () => counts.gateway,
    projectorWrites: () => counts.projector,
    reset: () => {
      counts.gateway = 0;
      counts.projector = 0;
    },
    stop: () => stack.remove(name),
  };
}

/** The budgets row read in the store every `everyMs`, as a timeline of (time, current_spend). */
function sampleRow(
  raw: DynamoDBClient,
  service: BenchService,
  tenantId: string,
  subscriptionId: string,
  everyMs = 2,
) {
  const timeline: { at: number; spend: number }[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const row = await readRow(raw, service, tenantId, subscriptionId);
      timeline.push({ at: performance.now(), spend: row?.current_spend ?? 0 });
      await new Promise((resolve) => setTimeout(resolve, everyMs));
    }
  })();
  return {
    timeline,
    stop: async () => {
      running = false;
      await loop;
      const row = await readRow(raw, service, tenantId, subscriptionId);
      timeline.push({ at: performance.now(), spend: row?.current_spend ?? 0 });
      return timeline;
    },
  };
}

async function readRow(raw: DynamoDBClient, service: BenchService, tenantId: string, subscriptionId: string) {
  const { Item } = await raw.send(
    new GetItemCommand({
      TableName: service.runtime.tables.budgets,
      Key: { tenant_id: { S: tenantId }, subscription_id: { S: subscriptionId } },
      ConsistentRead: true,
    }),
  );
  return Item ? (unmarshall(Item) as BudgetRow) : undefined;
}

async function deadLetters(service: BenchService): Promise<number> {
  const dead = (await service.call('GET', '/_local/dead-letters', undefined)) as unknown as {
    bus: unknown[];
    stream: unknown[];
    queue: unknown[];
  };
  return dead.bus.length + dead.stream.length + dead.queue.length;
}

/**
 * Clients at a fixed rate against a hard cap of $50.00 (1 cent a unit, 10 units a request): each
 * request goes only if the gateway's check on the newest row it has says so. The gateway reads the
 * row every 10 ms, as a cache would; the naive check lets a request through while `remaining`
 * covers it; the guard also counts what it let through since that row.
 */
async function overshoot(service: BenchService, raw: DynamoDBClient, quick: boolean) {
  const budget = 5_000;
  const cost = 10;
  const rate = quick ? 100 : 200; // requests per second, all clients together
  const rows: (string | number)[][] = [];
  for (const mode of ['naive: cost ≤ remaining', 'BudgetGuard (reservation)'] as const) {
    const { subscriptionId, customerId } = await subscriptionWith(service, 1, budget);
    await service.runtime.settled();
    const guard = new BudgetGuard({ maxRowAgeMs: 3_600_000 });
    let row = await readRow(raw, service, customerId, subscriptionId);
    while (!row) row = await readRow(raw, service, customerId, subscriptionId);
    guard.acceptRow(row);
    let polling = true;
    let roomAfterCap: number | undefined;
    let capReachedAt: number | undefined;
    let sentUnits = 0;
    const poller = (async () => {
      while (polling) {
        const fresh = await readRow(raw, service, customerId, subscriptionId);
        if (fresh && fresh.sequence > (row?.sequence ?? 0)) {
          row = fresh;
          guard.acceptRow(fresh);
          if (capReachedAt !== undefined && fresh.remaining === 0 && roomAfterCap === undefined)
            roomAfterCap = performance.now() - capReachedAt;
        }
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    })();
    const started = performance.now();
    let refused = 0;
    const total = Math.ceil((budget / cost) * 1.5);
    await runConcurrently(total, 8, async (i) => {
      const due = started + (i * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      const now = new Date(Date.parse(row!.updated_at) + 1);
      const allowed =
        mode === 'BudgetGuard (reservation)'
          ? guard.check(subscriptionId, cost, now).allow
          : row!.enforcement !== 'hard' || cost <= row!.remaining;
      if (!allowed) {
        refused++;
        return;
      }
      sentUnits += cost;
      if (sentUnits >= budget && capReachedAt === undefined) capReachedAt = performance.now();
      await service.call('POST', '/api/v1/usage-records', {
        subscription_id: subscriptionId,
        idempotency_key: `cap-${i}`,
        metric: 'm0',
        quantity: cost,
      });
    });
    await service.runtime.settled();
    polling = false;
    await poller;
    const final = await readRow(raw, service, customerId, subscriptionId);
    rows.push([
      mode,
      rate,
      budget,
      final?.current_spend ?? 0,
      Math.max(0, (final?.current_spend ?? 0) - budget),
      roomAfterCap === undefined
        ? sentUnits > budget
          ? 'never 0'
          : '0 (never past)'
        : roomAfterCap.toFixed(0),
      refused,
    ]);
  }
  printTable(
    'Overshoot of a hard cap: one gateway, requests of 10 cents at a fixed rate, the row read every 10 ms',
    [
      'check',
      'requests/s',
      'cap',
      'spend counted',
      'overshoot (cents)',
      'row showed room after cap (ms)',
      'refused',
    ],
    rows,
  );
}
