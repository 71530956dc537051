import { parseArgs } from 'node:util';
import { DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { mintDevToken } from '../local/dev-auth.ts';
import { LOCAL_AWS } from '../local/dynamodb-local.ts';
import { runConcurrently } from '../shared/concurrency.ts';
import { SCOPES } from '../shared/http/routes.ts';
import { closeDuePeriods } from '../shared/use-cases/invoicing/close-periods.ts';
import { countByCommand, recordStoreCalls, replayWithFreshWrites } from './store-calls.ts';
import type { SummaryRow } from './summary.ts';
import {
  type BenchService,
  meteredPlan,
  percentile,
  quickRequested,
  startBenchService,
  subscribeCustomer,
} from './support.ts';
import { printTable } from './table.ts';

/**
 * Load and soak: many concurrent clients drive every write route of the local service (the same
 * handlers as the Lambdas) for a bounded time, after an untimed warm-up of the same mix
 * (`--warm-up` seconds or BENCH_LOAD_WARMUP_SECONDS); then every counted total is checked exactly against
 * what the clients were told. Reports throughput, p50/p99 per operation, errors, and memory at start
 * and end, next to raw PutItem throughput on the same store in the same run.
 *
 *   npm run bench -- load                          # 15 s warm-up, then 30 s, 16 clients
 *   npm run bench -- load --seconds 600 --clients 32   # a soak
 *
 * Exits non-zero when a total is not exact or an unexpected error (5xx, or a 4xx no operation
 * explains) occurred.
 */
type Op =
  | 'usage single'
  | 'usage batch'
  | 'usage duplicate'
  | 'customer create'
  | 'customer replay'
  | 'subscription create'
  | 'subscription patch'
  | 'catalog create'
  | 'invoice finalize'
  | 'invoice pay'
  | 'price archive';

const WEIGHTS: [Op, number][] = [
  ['usage single', 30],
  ['usage batch', 10],
  ['usage duplicate', 6],
  ['customer create', 6],
  ['customer replay', 3],
  ['subscription create', 5],
  ['subscription patch', 12],
  ['catalog create', 4],
  ['invoice finalize', 4],
  ['invoice pay', 4],
  ['price archive', 1],
];

/** Answers an operation may legitimately get under concurrency (a lost If-Match race, a raced finalize). */
const EXPECTED_REFUSALS: Partial<Record<Op, number[]>> = {
  'subscription patch': [409],
  'invoice finalize': [409],
  'invoice pay': [409],
  'price archive': [409],
};

type Sample = { op: Op; ms: number; status: number };

export async function benchLoad(): Promise<SummaryRow[]> {
  const { values } = parseArgs({
    args: process.argv.slice(2).filter((a) => a !== 'load'),
    options: {
      seconds: { type: 'string', default: process.env.BENCH_LOAD_SECONDS },
      clients: { type: 'string', default: process.env.BENCH_LOAD_CLIENTS ?? '16' },
      subscriptions: { type: 'string', default: '20' },
      'warm-up': { type: 'string', default: process.env.BENCH_LOAD_WARMUP_SECONDS },
    },
    strict: false,
  });
  const seconds = Number(values.seconds ?? (quickRequested() ? 8 : 30));
  const warmUpSeconds = Number(values['warm-up'] ?? (quickRequested() ? 4 : 15));
  const clients = Number(values.clients);
  const subscriptionCount = Number(values.subscriptions);
  const on = await loadOnce(true, seconds, warmUpSeconds, clients, subscriptionCount);
  const off = await loadOnce(false, seconds, warmUpSeconds, clients, subscriptionCount);
  printTable(
    `Load throughput, requests/s (${clients} clients × ${seconds} s, the same mix), next to the same store calls sent raw`,
    ['event path', 'API requests/s', 'ceiling: its store calls raw', 'API ÷ ceiling', 'store calls'],
    [on, off].map((run) => [
      run.eventPath ? 'on' : 'off',
      fmt(run.throughput),
      fmt(run.ceiling),
      (run.throughput / run.ceiling).toFixed(2),
      run.calls,
    ]),
  );
  return [on, off].map((run) => ({
    benchmark: 'load',
    measure: `${clients} clients on every write route, event path ${run.eventPath ? 'on' : 'off'}, requests/s`,
    value: fmt(run.throughput),
    ceiling: `${fmt(run.ceiling)} (its store calls raw)`,
    ratio: (run.throughput / run.ceiling).toFixed(2),
    target: 'totals exact',
    met: run.exact,
  }));
}

/**
 * One load run on a fresh service, after `warmUpSeconds` of the same mix, its tables printed; its store calls (all of the process's,
 * event path included when on) are recorded and then sent raw, as many at once as there were
 * clients, for the ceiling (requests ÷ the replay's seconds).
 */
async function loadOnce(
  eventPath: boolean,
  seconds: number,
  warmUpSeconds: number,
  clients: number,
  subscriptionCount: number,
) {
  const service = await startBenchService({ eventPath });
  const token = await mintDevToken(service.runtime.keys, { scopes: Object.values(SCOPES) });
  const request = async (
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ) => {
    const response = await fetch(`${service.runtime.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    // biome-ignore lint/suspicious/noExplicitAny: response bodies are read field by field
    let parsed: any = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // keep the text
    }
    return { status: response.status, body: parsed };
  };

  const raw = new DynamoDBClient({ ...LOCAL_AWS, endpoint: service.runtime.dynamoDbEndpoint });
  try {
    const setup = await setUp(service, subscriptionCount);
    const state = newState(setup);
    const memoryAtStart = memory();

    const samples: Sample[] = [];
    const unexpected: string[] = [];
    const totalWeight = WEIGHTS.reduce((sum, [, w]) => sum + w, 0);
    const pick = (): Op => {
      let r = Math.random() * totalWeight;
      for (const [op, weight] of WEIGHTS) {
        r -= weight;
        if (r < 0) return op;
      }
      return 'usage single';
    };
    let sequence = 0;
    /** `clients` clients sending the mix until `until`; `samples` gets what each request took. */
    const drive = (until: number, samples: Sample[]) =>
      Promise.all(
        Array.from({ length: clients }, async (_, client) => {
          while (performance.now() < until) {
            const ran = { op: pick() };
            const n = sequence++;
            const t0 = performance.now();
            const status = await runOp(ran.op, n, client, state, request, ran);
            const { op } = ran;
            const ms = performance.now() - t0;
            samples.push({ op, ms, status });
            const fine = status < 300 || (EXPECTED_REFUSALS[op] ?? []).includes(status);
            if (!fine && unexpected.length < 20) unexpected.push(`${op} → ${status}`);
            if (!fine) state.unexpectedCount++;
          }
        }),
      );
    // The same mix, untimed and unrecorded (its writes are in the checked totals all the same): the
    // store's JVM and Node's JIT get faster over the first thousands of requests, and the ceiling's
    // replay, which comes after, must not be the only one to find them warm.
    await drive(performance.now() + warmUpSeconds * 1000, []);
    await service.runtime.settled();
    const deadline = performance.now() + seconds * 1000;
    const started = performance.now();
    const recorded = await recordStoreCalls(() => drive(deadline, samples), 'all');
    const elapsed = (performance.now() - started) / 1000;
    await service.runtime.settled();

    const memoryAtEnd = memory();

    const checks = await verify(state, request, service, eventPath);
    // The ceiling, once the totals are checked: the run's store calls, raw, writes to fresh items.
    const replayStarted = performance.now();
    await replayWithFreshWrites(raw, recorded, 'CEILING#', clients);
    const ceiling = samples.length / ((performance.now() - replayStarted) / 1000);

    // The same store's raw write rate, with the same number of clients, in the same run.
    const rawWrites = quickRequested() ? 1000 : 3000;
    const rawStarted = performance.now();
    await runConcurrently(rawWrites, clients, async (i) => {
      await raw.send(
        new PutItemCommand({
          TableName: service.runtime.tables.billing,
          Item: { PK: { S: `RAW#load#${i}` }, SK: { S: 'RAW' }, n: { N: String(i) } },
        }),
      );
    });
    const rawRate = rawWrites / ((performance.now() - rawStarted) / 1000);

    const byOp = new Map<Op, Sample[]>();
    for (const s of samples) byOp.set(s.op, [...(byOp.get(s.op) ?? []), s]);
    const rows = [...byOp.entries()]
      .sort((a, b) => b[1].length - a[1].length)
      .map(([op, list]) => {
        const ms = list.map((s) => s.ms);
        const refused = list.filter((s) => s.status >= 400).length;
        return [op, list.length, fmt(percentile(ms, 50)), fmt(percentile(ms, 99)), refused];
      });
    const all = samples.map((s) => s.ms);
    rows.push(['all writes', samples.length, fmt(percentile(all, 50)), fmt(percentile(all, 99)), '']);
    printTable(
      `Load: ${clients} clients × ${seconds} s on every write route (local mode, event path ${eventPath ? 'on' : 'off'})`,
      ['operation', 'requests', 'p50 ms', 'p99 ms', 'refused (409 races)'],
      rows,
    );
    const throughput = samples.length / elapsed;
    printTable(
      'Throughput and memory',
      ['measure', 'value'],
      [
        ['requests/s through the API', fmt(throughput)],
        ['raw PutItem/s on the same store (baseline)', fmt(rawRate)],
        ['API / raw', `${(throughput / rawRate).toFixed(2)}×`],
        ['usage records counted', state.expectedRecords],
        ['unexpected errors (5xx or unexplained 4xx)', state.unexpectedCount],
        ['node heap MiB at start → end', `${memoryAtStart.heap} → ${memoryAtEnd.heap}`],
        ['node RSS MiB at start → end', `${memoryAtStart.rss} → ${memoryAtEnd.rss}`],
      ],
    );
    printTable(
      'Totals checked after the run',
      ['check', 'result'],
      checks.map((c) => [c.name, c.ok ? 'exact' : `WRONG: ${c.detail}`]),
    );
    for (const line of unexpected) console.log(`  unexpected: ${line}`);
    const exact = !checks.some((c) => !c.ok) && state.unexpectedCount === 0;
    if (!exact) process.exitCode = 1;
    return { eventPath, throughput, ceiling, exact, calls: countByCommand(recorded) };
  } finally {
    raw.destroy();
    await service.stop();
  }
}

type Setup = {
  planId: string;
  priceIds: string[];
  subscriptions: { id: string; customerId: string; version: number }[];
  invoices: { id: string; customerId: string }[];
};

async function setUp(service: BenchService, count: number): Promise<Setup> {
  // The bench plan (0.04 cents per call, as the checks below assume) with a flat fee to invoice.
  const { planId } = await meteredPlan(service, [{ model: 'flat', unit_amount: 1000 }]);
  // Draft invoices to finalize and pay during the run: a few months of billing subscriptions,
  // closed as if it were three months from now, before the usage subscriptions exist.
  const billing: string[] = [];
  let closeAt = new Date();
  for (let i = 0; i < count; i++) {
    const { customerId, subscription } = await subscribeCustomer(service, planId, {
      name: `Billed ${i}`,
      email: `billed${i}@example.com`,
    });
    billing.push(customerId);
    closeAt = new Date(new Date(String(subscription.current_period_end)).getTime() + 62 * 86_400_000);
  }
  await closeDuePeriods(service.runtime.tables.billing, closeAt);
  const invoices: Setup['invoices'] = [];
  for (const customerId of billing) {
    const page = (await service.call(
      'GET',
      `/api/v1/invoices?customer_id=${customerId}&limit=100`,
      undefined,
    )) as {
      data?: { id: string }[];
    };
    for (const invoice of page.data ?? []) invoices.push({ id: invoice.id, customerId });
  }
  // The usage subscriptions: their current period contains now, which is what clients report into.
  const subscriptions: Setup['subscriptions'] = [];
  for (let i = 0; i < count; i++) {
    const { customerId, subscription } = await subscribeCustomer(service, planId, {
      name: `Load ${i}`,
      email: `load${i}@example.com`,
    });
    subscriptions.push({ id: subscription.id, customerId, version: subscription.version });
  }
  return { planId, priceIds: [], subscriptions, invoices };
}

type State = ReturnType<typeof newState>;

function newState(setup: Setup) {
  return {
    setup,
    /** Exact expected quantity per subscription (integers: the clients send whole calls). */
    expectedQuantity: new Map<string, number>(setup.subscriptions.map((s) => [s.id, 0])),
    expectedRecordsBy: new Map<string, number>(setup.subscriptions.map((s) => [s.id, 0])),
    expectedRecords: 0,
    acceptedKeys: [] as { subscriptionId: string; key: string; quantity: number }[],
    customersCreated: 0,
    customerReplays: [] as { key: string; id: string }[],
    replayMismatches: 0,
    subscriptionsCreated: 0,
    finalized: new Set<string>(),
    paid: new Set<string>(),
    unexpectedCount: 0,
    duplicatesCounted: 0,
  };
}

type Request = (
  method: string,
  path: string,
  body?: unknown,
  headers?: Record<string, string>,
) => // biome-ignore lint/suspicious/noExplicitAny: response bodies are read field by field
Promise<{ status: number; body: any }>;

/**
 * One request of `op`; when its resource is used up (no invoice left to finalize or pay, no
 * customer to replay, no price to archive) another op runs instead, and `ran.op` says which.
 */
async function runOp(
  op: Op,
  n: number,
  client: number,
  state: State,
  request: Request,
  ran: { op: Op },
): Promise<number> {
  ran.op = op;
  const { setup } = state;
  const subscription = setup.subscriptions[n % setup.subscriptions.length]!;
  switch (op) {
    case 'usage single': {
      const quantity = 1 + (n % 9);
      const key = `load-${client}-${n}`;
      const response = await request('POST', '/api/v1/usage-records', {
        subscription_id: subscription.id,
        idempotency_key: key,
        metric: 'calls',
        quantity,
      });
      if (response.status === 201) count(state, subscription.id, key, quantity);
      return response.status;
    }
    case 'usage batch': {
      const records = Array.from({ length: 50 }, (_, i) => ({
        subscription_id: setup.subscriptions[(n + i) % setup.subscriptions.length]!.id,
        idempotency_key: `load-${client}-${n}-${i}`,
        metric: 'calls',
        quantity: 1 + (i % 5),
      }));
      const response = await request('POST', '/api/v1/usage-records', { records });
      if (response.status === 200) {
        (response.body.results as { index: number; status: string }[]).forEach((result) => {
          const record = records[result.index]!;
          if (result.status === 'accepted')
            count(state, record.subscription_id, record.idempotency_key, record.quantity);
        });
      }
      return response.status;
    }
    case 'usage duplicate': {
      const previous = state.acceptedKeys[n % Math.max(1, state.acceptedKeys.length)];
      if (!previous) return runOp('usage single', n, client, state, request, ran);
      const response = await request('POST', '/api/v1/usage-records', {
        subscription_id: previous.subscriptionId,
        idempotency_key: previous.key,
        metric: 'calls',
        quantity: previous.quantity,
      });
      if (response.status === 201) state.duplicatesCounted++;
      return response.status;
    }
    case 'customer create': {
      const key = `load-customer-${n}`;
      const response = await request(
        'POST',
        '/api/v1/customers',
        { name: `New ${n}`, email: `new${n}@example.com` },
        { 'idempotency-key': key },
      );
      if (response.status === 201) {
        state.customersCreated++;
        state.customerReplays.push({ key, id: response.body.id });
      }
      return response.status;
    }
    case 'customer replay': {
      const previous = state.customerReplays[n % Math.max(1, state.customerReplays.length)];
      if (!previous) return runOp('customer create', n, client, state, request, ran);
      const number = previous.key.replace('load-customer-', '');
      const response = await request(
        'POST',
        '/api/v1/customers',
        { name: `New ${number}`, email: `new${number}@example.com` },
        { 'idempotency-key': previous.key },
      );
      if (response.body?.id !== previous.id) state.replayMismatches++;
      return response.status;
    }
    case 'subscription create': {
      const customer = await request('POST', '/api/v1/customers', {
        name: `Sub ${n}`,
        email: `sub${n}@example.com`,
      });
      if (customer.status !== 201) return customer.status;
      state.customersCreated++;
      const response = await request('POST', '/api/v1/subscriptions', {
        customer_id: customer.body.id,
        plan_id: setup.planId,
      });
      if (response.status === 201) state.subscriptionsCreated++;
      return response.status;
    }
    case 'subscription patch': {
      const response = await request(
        'PATCH',
        `/api/v1/subscriptions/${subscription.id}`,
        { total_budget: 1_000_000 + n },
        { 'if-match': `"${subscription.version}"` },
      );
      if (response.status === 200) subscription.version = response.body.version;
      else if (response.status === 409) {
        const current = await request('GET', `/api/v1/subscriptions/${subscription.id}`);
        subscription.version = Math.max(subscription.version, current.body.version);
      }
      return response.status;
    }
    case 'catalog create': {
      const product = await request('POST', '/api/v1/products', { name: `Catalog ${n}` });
      if (product.status !== 201) return product.status;
      const plan = await request('POST', '/api/v1/plans', {
        product_id: product.body.id,
        name: `Catalog ${n}`,
        currency: 'EUR',
        interval: 'month',
        total_budget: 500,
      });
      if (plan.status !== 201) return plan.status;
      const price = await request('POST', '/api/v1/prices', {
        plan_id: plan.body.id,
        model: 'per_unit',
        metric: 'tokens',
        unit_amount_decimal: '0.001',
      });
      if (price.status === 201) state.setup.priceIds.push(price.body.id);
      return price.status;
    }
    case 'price archive': {
      const priceId = state.setup.priceIds.shift();
      if (!priceId) return runOp('catalog create', n, client, state, request, ran);
      return (await request('POST', `/api/v1/prices/${priceId}/archive`)).status;
    }
    case 'invoice finalize': {
      const invoice = setup.invoices[n % setup.invoices.length]!;
      if (state.finalized.has(invoice.id)) return runOp('invoice pay', n, client, state, request, ran);
      const response = await request('POST', `/api/v1/invoices/${invoice.id}/finalize`);
      if (response.status === 200) state.finalized.add(invoice.id);
      return response.status;
    }
    case 'invoice pay': {
      const finalized = [...state.finalized].filter((id) => !state.paid.has(id));
      const invoiceId = finalized[n % Math.max(1, finalized.length)];
      if (!invoiceId) return runOp('usage single', n, client, state, request, ran);
      const response = await request('POST', `/api/v1/invoices/${invoiceId}/pay`, { paid_out_of_band: true });
      if (response.status === 200) state.paid.add(invoiceId);
      return response.status;
    }
  }
}

function count(state: State, subscriptionId: string, key: string, quantity: number) {
  state.expectedQuantity.set(subscriptionId, (state.expectedQuantity.get(subscriptionId) ?? 0) + quantity);
  state.expectedRecordsBy.set(subscriptionId, (state.expectedRecordsBy.get(subscriptionId) ?? 0) + 1);
  state.expectedRecords++;
  state.acceptedKeys.push({ subscriptionId, key, quantity });
}

type Check = { name: string; ok: boolean; detail?: string };

/** The totals after a run; the budget rows only with the event path on (nothing writes them otherwise). */
async function verify(
  state: State,
  request: Request,
  service: BenchService,
  eventPath: boolean,
): Promise<Check[]> {
  const checks: Check[] = [];
  const budgets = (await (await fetch(`${service.runtime.url}/_local/budgets`)).json()) as {
    items: { subscription_id: string; current_spend: number; total_budget: number }[];
  };
  const rows = new Map(budgets.items.map((row) => [row.subscription_id, row]));
  const wrongUsage: string[] = [];
  const wrongSpend: string[] = [];
  const wrongBudget: string[] = [];
  for (const subscription of state.setup.subscriptions) {
    const usage = await request('GET', `/api/v1/subscriptions/${subscription.id}/usage`);
    const calls = (usage.body.metrics as { metric: string; quantity: string; records: number }[]).find(
      (m) => m.metric === 'calls',
    );
    const expected = state.expectedQuantity.get(subscription.id) ?? 0;
    const expectedRecords = state.expectedRecordsBy.get(subscription.id) ?? 0;
    if ((calls?.quantity ?? '0') !== String(expected) || (calls?.records ?? 0) !== expectedRecords) {
      wrongUsage.push(
        `${subscription.id}: ${calls?.quantity}/${calls?.records} vs ${expected}/${expectedRecords}`,
      );
    }
    // 0.04 cents per call, rounded once: exactly what current_spend must be.
    const spend = Math.floor((expected * 4 + 50) / 100); // integers: half up, exactly
    const row = rows.get(subscription.id);
    if (row?.current_spend !== spend)
      wrongSpend.push(`${subscription.id}: ${row?.current_spend} vs ${spend}`);
    const current = await request('GET', `/api/v1/subscriptions/${subscription.id}`);
    if (row?.total_budget !== current.body.total_budget)
      wrongBudget.push(`${subscription.id}: row ${row?.total_budget} vs ${current.body.total_budget}`);
  }
  checks.push({
    name: 'usage quantity and record count per subscription',
    ok: wrongUsage.length === 0,
    detail: wrongUsage.join('; '),
  });
  checks.push({
    name: 'duplicates never counted',
    ok: state.duplicatesCounted === 0,
    detail: String(state.duplicatesCounted),
  });
  if (eventPath) {
    checks.push({
      name: 'current_spend on every budget row',
      ok: wrongSpend.length === 0,
      detail: wrongSpend.join('; '),
    });
    checks.push({
      name: 'total_budget on every budget row = the subscription',
      ok: wrongBudget.length === 0,
      detail: wrongBudget.join('; '),
    });
  }
  checks.push({
    name: 'idempotent replays return the first customer',
    ok: state.replayMismatches === 0,
    detail: String(state.replayMismatches),
  });

  // Every invoice finalized got a number; each customer's numbers are 1..n without gaps.
  const numbersBy = new Map<string, number[]>();
  let paidSeen = 0;
  for (const invoice of state.setup.invoices) {
    const current = await request('GET', `/api/v1/invoices/${invoice.id}`);
    if (current.body.status === 'paid') paidSeen++;
    if (current.body.number) {
      const sequence = Number(String(current.body.number).split('-').pop());
      numbersBy.set(invoice.customerId, [...(numbersBy.get(invoice.customerId) ?? []), sequence]);
    }
  }
  const gaps = [...numbersBy.entries()].filter(([, numbers]) => {
    const sorted = [...numbers].sort((a, b) => a - b);
    return sorted.some((value, i) => value !== i + 1);
  });
  const numbered = [...numbersBy.values()].reduce((sum, list) => sum + list.length, 0);
  checks.push({
    name: `invoice numbers gapless per customer (${numbered} finalized)`,
    ok: gaps.length === 0 && numbered === state.finalized.size,
    detail: `${gaps.length} customers with gaps; ${numbered} numbered vs ${state.finalized.size} finalized`,
  });
  checks.push({
    name: `paid invoices = successful pays (${state.paid.size})`,
    ok: paidSeen === state.paid.size,
    detail: `${paidSeen} paid vs ${state.paid.size}`,
  });
  return checks;
}

function memory() {
  const { heapUsed, rss } = process.memoryUsage();
  return { heap: Math.round(heapUsed / 2 ** 20), rss: Math.round(rss / 2 ** 20) };
}

const fmt = (value: number) => (value >= 100 ? value.toFixed(0) : value.toFixed(1));
