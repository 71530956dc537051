import { parseArgs } from 'node:util';
import {
  type AttributeValue,
  BatchGetItemCommand,
  type BatchGetItemCommandOutput,
  DynamoDBClient,
  QueryCommand,
  type QueryCommandInput,
} from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  type BatchGetCommandOutput,
  BatchWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { LOCAL_AWS } from '../local/dynamodb-local.ts';
import { WRITE_COMMANDS } from '../local/write-signal.ts';
import { runConcurrently } from '../shared/concurrency.ts';
import type { Price } from '../shared/domain/catalog.ts';
import { type Invoice, invoiceIdFor } from '../shared/domain/invoice.ts';
import type { Principal } from '../shared/domain/principal.ts';
import { rateUsage } from '../shared/domain/rating.ts';
import type { Subscription } from '../shared/domain/subscription.ts';
import { sumQuantities, USAGE_SHARDS } from '../shared/domain/usage.ts';
import { SCOPES } from '../shared/http/routes.ts';
import { dynamo } from '../shared/store/client.ts';
import {
  byOwnerPartition,
  byOwnerPrefix,
  byTypePartition,
  dueBy,
  invoiceKey,
  PENDING_ITEM_SK_PREFIX,
  planKey,
  subscriptionKey,
  subscriptionsDuePartition,
  type TableKey,
  thresholdInvoicesPrefix,
} from '../shared/store/keys.ts';
import { SubscriptionsRepository } from '../shared/store/subscriptions-repository.ts';
import type { TransactItem } from '../shared/store/transact.ts';
import { takeChunk, UsageRepository, type UsageWrite } from '../shared/store/usage-repository.ts';
import { listPlanPrices } from '../shared/use-cases/catalog.ts';
import { createCustomer } from '../shared/use-cases/customers.ts';
import { CLOSE_CONCURRENCY, closeDuePeriods } from '../shared/use-cases/invoicing/close-periods.ts';
import { createSubscription } from '../shared/use-cases/subscriptions.ts';
import { countByCommand, itemsReadBy, recordStoreCalls, replayWithFreshWrites } from './store-calls.ts';
import type { SummaryRow } from './summary.ts';
import { type BenchService, meteredPlan, startBenchService } from './support.ts';
import { printTable } from './table.ts';

/**
 * The period close (`closeDuePeriods`, the hourly job) in local mode over many subscriptions that
 * each have usage, next to its ceiling measured in the same run on the same DynamoDB Local: reading
 * the very items it needs straight from the store (the due subscriptions from the due index, every
 * counter shard item of their period by BatchGetItem of exactly those keys, their pending invoice
 * items and threshold-invoice locators, the plan's prices) plus its own writes (recorded from the
 * close, bench/store-calls.ts) sent raw to fresh items as parallel as the close sent them. Beside
 * it: the close's store calls as it makes them, sent raw (what its call pattern costs). Then checks
 * that each subscription got exactly one invoice, that a second run creates none, and that every
 * total is what the seeded usage implies. The event path is held while the close and its ceiling
 * are measured and timed as it catches up after (`--event-path`, eventPathOf).
 *
 * Scale: `--subscriptions N --records R` (or BENCH_CLOSE_SUBSCRIPTIONS / BENCH_CLOSE_RECORDS),
 * 10,000 × 100 by default; `--quick` (or BENCH_CLOSE_QUICK=1) for 200 × 20.
 *
 * Seeding: the catalog through the HTTP API; customers (one per 10 subscriptions) and subscriptions
 * through their use cases; each subscription's usage as the exact items UsageRepository.count writes
 * for it reported in one batch request (takeChunk's chunks on consecutive shards, transactionFor's
 * record claims and counter Updates), written by BatchWriteItem and UpdateItem instead of one
 * transaction per chunk (the ingest path takes ~15 minutes for 1,000,000 records on 2 cores).
 */
const FULL = { subscriptions: 10_000, records: 100 };
const QUICK = { subscriptions: 200, records: 20 };
/** Workers for seeding, and for the raw reads as many as closeDuePeriods closes subscriptions at a time. */
const SEED_CONCURRENCY = 8;
const READ_CONCURRENCY = CLOSE_CONCURRENCY;
const METRICS = ['calls', 'tokens'] as const;
const FLAT_FEE = 1000;
const SUBSCRIPTIONS_PER_CUSTOMER = 10;
/** BatchWriteItem takes 25 items, BatchGetItem 100 keys. */
const BATCH_WRITE = 25;
const BATCH_GET = 100;

const OPERATOR: Principal = {
  kind: 'user',
  subject: 'bench-operator',
  scopes: new Set(Object.values(SCOPES)),
  tenantId: undefined,
};

type Seeded = {
  subscription: Subscription;
  /** The period's exact quantity per metric, summed from the seeded records. */
  quantities: Map<string, string>;
  /** Every counter item written for the period (shard × metric × price). */
  counterKeys: TableKey[];
};

/** Target: the close within this multiple of its ceiling (its reads, batched, and its writes, raw). */
const CLOSE_TARGET = 1.5;

export async function benchClosePeriods(): Promise<SummaryRow[]> {
  const scale = scaleFromArgs();
  const service = await startBenchService({ eventPath: scale.eventPath !== 'off' });
  // Paused: the close (and its ceiling) measured alone, as its Lambda runs in AWS while the fan-out
  // and the SmartGateway sync run in theirs; their catch-up is measured after.
  const hold = () => (scale.eventPath === 'paused' ? service.runtime.pauseEventPath() : Promise.resolve());
  const letGo = () => service.runtime.resumeEventPath();
  const tableName = service.runtime.tables.billing;
  const raw = new DynamoDBClient({ ...LOCAL_AWS, endpoint: service.runtime.dynamoDbEndpoint });
  try {
    console.log(
      `\nclose-periods: ${scale.subscriptions} subscriptions × ${scale.records} usage records, event path ` +
        `${scale.eventPath}; seeding…`,
    );
    let started = performance.now();
    const { planId } = await meteredPlan(service, [
      { model: 'flat', unit_amount: FLAT_FEE },
      {
        model: 'tiered_graduated',
        metric: 'tokens',
        tiers: [
          { up_to: 10_000, unit_amount_decimal: '0.001' },
          { up_to: null, unit_amount_decimal: '0.0005', flat_amount: 50 },
        ],
      },
    ]);
    // The stored prices, as ingestion reads them (a counter item carries the price it rates with).
    const prices = await listPlanPrices(tableName, planId);
    const priceOf = (metric: string) => prices.find((p) => p.active && p.metric === metric)!;
    const catalogSeconds = elapsed(started);

    const { subscriptions, seeded, steps } = await seed(service, tableName, planId, scale, priceOf);
    const counterItems = seeded.reduce((sum, s) => sum + s.counterKeys.length, 0);
    printTable(
      'Seeding: catalog through the HTTP API, customers and subscriptions through their use cases; usage ' +
        'NOT through the ingest transactions but as the exact items UsageRepository.count writes for each ' +
        "subscription's records reported in one batch (takeChunk's chunks on consecutive shards; " +
        "transactionFor's record claims by BatchWriteItem, its counter Updates by UpdateItem). Each step " +
        'is timed until the stream → fan-out → bus → SmartGateway sync caught up with it',
      ['step', 'items', 'seconds'],
      [
        ['product, plan, flat + per_unit + tiered prices (HTTP)', 2 + prices.length, fmt(catalogSeconds)],
        ...steps.map(([what, items, seconds]) => [what, items, fmt(seconds)]),
        ['total', '', fmt(catalogSeconds + steps.reduce((sum, [, , seconds]) => sum + seconds, 0))],
      ],
    );

    // Every period ends a month after its subscription started; close an hour after the last one.
    const closeAt = new Date(
      Math.max(...subscriptions.map((s) => new Date(s.current_period_end).getTime())) + 3_600_000,
    );
    const counterKeysOf = new Map(seeded.map((s) => [s.subscription.id, s.counterKeys]));

    await hold();
    started = performance.now();
    const due = await new SubscriptionsRepository(tableName).listDue(closeAt);
    const listDueSeconds = elapsed(started);
    if (due.length !== scale.subscriptions) {
      throw new Error(`listDue found ${due.length} due subscriptions, expected ${scale.subscriptions}`);
    }

    started = performance.now();
    const read = await rawReadOfCloseItems(raw, tableName, closeAt, counterKeysOf);
    const rawSeconds = elapsed(started);
    const expectedRead = {
      subscriptions: scale.subscriptions,
      counters: counterItems,
      prices: prices.length,
    };
    if (
      read.subscriptions !== expectedRead.subscriptions ||
      read.counters !== expectedRead.counters ||
      read.prices !== expectedRead.prices ||
      read.pending !== 0 ||
      read.thresholdInvoices !== 0 ||
      read.records !== scale.subscriptions * scale.records
    ) {
      throw new Error(
        `The raw read found ${JSON.stringify(read)}, expected ${JSON.stringify({ ...expectedRead, pending: 0, thresholdInvoices: 0, records: scale.subscriptions * scale.records })}`,
      );
    }

    started = performance.now();
    let first: Awaited<ReturnType<typeof closeDuePeriods>> | undefined;
    const closeCalls = await recordStoreCalls(async () => {
      first = await closeDuePeriods(tableName, closeAt);
    }, 'own');
    const closeSeconds = elapsed(started);
    if (!first) throw new Error('The close returned nothing');

    started = performance.now();
    letGo();
    await service.runtime.settled();
    const closeSettleSeconds = elapsed(started);
    const afterFirst = await countInvoices(raw, tableName);

    // Nothing is due any more: what remains is the job's fixed cost (its queries of the due index).
    started = performance.now();
    const second = await closeDuePeriods(tableName, closeAt);
    const secondSeconds = elapsed(started);
    const afterSecond = await countInvoices(raw, tableName);

    const fewDue = await workListWhenFewAreDue(tableName, scale.subscriptions);

    // The close's own store calls, sent raw as parallel as the close sent them (its peak in flight),
    // after the checks have counted what the close wrote; its writes alone the same way. The
    // ceiling is what the close must do: read its items (the batched raw read) and make its writes.
    await hold();
    started = performance.now();
    await replayWithFreshWrites(raw, closeCalls, 'CALLS#', closeCalls.peakInFlight);
    const callsSeconds = elapsed(started);
    const writes = closeCalls.filter((call) => WRITE_COMMANDS.has(call.command));
    started = performance.now();
    await replayWithFreshWrites(raw, writes, 'WRITES#', closeCalls.peakInFlight);
    const ceilingSeconds = rawSeconds + elapsed(started);
    const callCounts = countByCommand(closeCalls);
    letGo();

    const per = (seconds: number) => ((seconds * 1000) / scale.subscriptions).toFixed(2);
    const times = (seconds: number) => (seconds / ceilingSeconds).toFixed(2);
    printTable(
      `Period close of ${scale.subscriptions} subscriptions × ${scale.records} usage records in local mode ` +
        `(event path ${EVENT_PATH_SAID[scale.eventPath]}), ` +
        `next to its ceiling (the items it must read, read raw and batched, plus its writes sent raw) and ` +
        `to its store calls as it makes them, sent raw, on the same DynamoDB Local ` +
        `(${READ_CONCURRENCY} workers, as the close)`,
      ['measure', 'seconds', 'ms per subscription', '× ceiling'],
      [
        [
          `closeDuePeriods (${first.invoices_created} draft invoices created)`,
          fmt(closeSeconds),
          per(closeSeconds),
          times(closeSeconds),
        ],
        [
          `ceiling: the raw read below + the close's ${writes.length} writes sent raw (${countByCommand(writes)})`,
          fmt(ceilingSeconds),
          per(ceilingSeconds),
          '1.00',
        ],
        [
          `the close's store calls as it makes them, sent raw ${closeCalls.peakInFlight} at a time (${callCounts})`,
          fmt(callsSeconds),
          per(callsSeconds),
          times(callsSeconds),
        ],
        [
          `raw read of the items it reads: ${read.subscriptions} due subscriptions (due index Query), ` +
            `${read.counters} counters (BatchGetItem), pending items and threshold invoices ` +
            `(${read.pendingQueries} Queries each), ` +
            `${read.prices} prices (Query)`,
          fmt(rawSeconds),
          per(rawSeconds),
          times(rawSeconds),
        ],
        [
          `closeDuePeriods again, nothing due (${second.subscriptions} subscriptions, ${second.invoices_created} invoices)`,
          fmt(secondSeconds),
          per(secondSeconds),
          times(secondSeconds),
        ],
        [
          'SubscriptionsRepository.listDue alone, before the close',
          fmt(listDueSeconds),
          per(listDueSeconds),
          times(listDueSeconds),
        ],
      ],
    );

    printTable(
      `The work list when ${fewDue.due} of ${scale.subscriptions} subscriptions are due (at the period end ` +
        `of the earliest 1 % after the close): items the store reads (ScannedCount) for it`,
      ['work list', 'subscriptions found', 'items read', 'seconds'],
      [
        [
          'SubscriptionsRepository.listDue (sparse due index)',
          fewDue.index.found,
          fewDue.index.read,
          fmt(fewDue.index.seconds),
        ],
        [
          'listDueByType (by-type index + filter, the list before the due index)',
          fewDue.byType.found,
          fewDue.byType.read,
          fmt(fewDue.byType.seconds),
        ],
      ],
    );

    const totals = await checkTotals(tableName, seeded, priceOf);
    const n = scale.subscriptions;
    const checks: [string, number, number][] = [
      ['first close: subscriptions due', first.subscriptions, n],
      ['first close: invoices created', first.invoices_created, n],
      ['invoices in the store after the first close', afterFirst, n],
      ['second close (same time): subscriptions due', second.subscriptions, 0],
      ['second close (same time): invoices created', second.invoices_created, 0],
      ['invoices in the store after the second close', afterSecond, n],
      ['invoices whose lines and total equal the seeded usage', totals.matching, n],
      ['few due: the same subscriptions from both work lists', fewDue.same ? 1 : 0, 1],
      ['few due: subscriptions the due index found', fewDue.index.found, fewDue.due],
      ['few due: items the due index read', fewDue.index.read, fewDue.due],
    ];
    printTable(
      `Checks (the close's own stream work caught up ${fmt(closeSettleSeconds)} s after the close returned` +
        `${scale.eventPath === 'paused' ? ' and the event path was let go' : ''})`,
      ['check', 'found', 'expected', 'ok'],
      checks.map(([what, found, expected]) => [what, found, expected, found === expected ? 'yes' : 'NO']),
    );
    const { bus } = service.runtime;
    console.log(
      `Events dead-lettered in local mode during the run (seeding included): stream ${service.runtime.streamDeadLetters().length}, bus ${bus.deadLetters().length}`,
    );
    const failed = checks.filter(([, found, expected]) => found !== expected);
    if (failed.length > 0) {
      throw new Error(
        `close-periods checks failed: ${failed.map(([what, found, expected]) => `${what}: ${found}, expected ${expected}`).join('; ')}` +
          (totals.firstMismatch ? `; first total mismatch: ${totals.firstMismatch}` : ''),
      );
    }
    const ratio = closeSeconds / ceilingSeconds;
    return [
      {
        benchmark: 'close-periods',
        measure: `close of ${n} subscriptions × ${scale.records} records, event path ${scale.eventPath}, ms per subscription`,
        value: per(closeSeconds),
        ceiling: `${per(ceilingSeconds)} (its reads + its writes raw)`,
        ratio: ratio.toFixed(2),
        target: `≤ ${CLOSE_TARGET.toFixed(2)}`,
        met: ratio <= CLOSE_TARGET,
      },
      {
        benchmark: 'close-periods',
        measure: `work list when ${fewDue.due} of ${n} are due: items read`,
        value: String(fewDue.index.read),
        ceiling: `${fewDue.due} (the due ones; by-type read ${fewDue.byType.read})`,
        ratio: (fewDue.index.read / fewDue.due).toFixed(2),
        target: '≤ 1.00',
        met: fewDue.index.read <= fewDue.due,
      },
    ];
  } finally {
    raw.destroy();
    await service.stop();
  }
}

/**
 * After the close every period ends a month after the one closed, at moments as spread as the
 * subscriptions were created: at the end of the earliest 1 %, about 1 % are due. Both work lists
 * at that moment, with the items the store read for each.
 */
async function workListWhenFewAreDue(tableName: string, subscriptions: number) {
  const repository = new SubscriptionsRepository(tableName);
  const ends = (await repository.listDueByType(new Date('9999-01-01T00:00:00.000Z')))
    .map((s) => s.current_period_end)
    .sort();
  const at = new Date(ends[Math.max(1, Math.round(subscriptions / 100)) - 1]!);
  // About 1 %: more when several periods end at that very moment.
  const due = ends.filter((end) => end <= at.toISOString()).length;
  const measure = async (list: () => Promise<Subscription[]>) => {
    const started = performance.now();
    const { result, read } = await itemsReadBy(list);
    return { ids: result.map((s) => s.id).sort(), found: result.length, read, seconds: elapsed(started) };
  };
  const index = await measure(() => repository.listDue(at));
  const byType = await measure(() => repository.listDueByType(at));
  return { due, index, byType, same: index.ids.join() === byType.ids.join() };
}

function scaleFromArgs(): { subscriptions: number; records: number; eventPath: EventPath } {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      subscriptions: { type: 'string' },
      records: { type: 'string' },
      'event-path': { type: 'string' },
      quick: { type: 'boolean' },
    },
    allowPositionals: true,
    strict: false,
  });
  const base = values.quick === true || process.env.BENCH_CLOSE_QUICK === '1' ? QUICK : FULL;
  const count = (name: string, value: unknown, fallback: number) => {
    if (value === undefined) return fallback;
    const parsed = Number(value);
    if (!Number.isSafeInteger(parsed) || parsed < 1) {
      throw new Error(`--${name} must be a positive integer, not ${JSON.stringify(value)}`);
    }
    return parsed;
  };
  return {
    subscriptions: count(
      'subscriptions',
      values.subscriptions ?? process.env.BENCH_CLOSE_SUBSCRIPTIONS,
      base.subscriptions,
    ),
    records: count('records', values.records ?? process.env.BENCH_CLOSE_RECORDS, base.records),
    eventPath: eventPathOf(values['event-path'] ?? process.env.BENCH_CLOSE_EVENT_PATH),
  };
}

type EventPath = 'paused' | 'on' | 'off';

/**
 * `--event-path paused` (the default: the whole service, its stream fan-out and SmartGateway sync
 * held while the close and its ceiling are measured, as the close Lambda runs in AWS while that work
 * happens in other Lambdas, then let go and timed to catch up), `on` (that work shares the machine's
 * cores with the close as it goes) or `off` (no event path at all).
 */
function eventPathOf(value: unknown): EventPath {
  if (value === undefined) return 'paused';
  if (value === 'paused' || value === 'on' || value === 'off') return value;
  throw new Error(`--event-path must be paused, on or off, not ${JSON.stringify(value)}`);
}

const EVENT_PATH_SAID: Record<EventPath, string> = {
  paused: 'paused while the close and its ceiling run, then caught up',
  on: 'on, sharing the cores',
  off: 'off',
};

/**
 * Subscription `i`'s records, as ingestion would have accepted them: timestamps spread over the
 * period, metrics alternating, whole `calls` and fractional `tokens` quantities.
 */
function usageRecords(
  i: number,
  subscription: Subscription,
  records: number,
  priceOf: (metric: string) => Price,
): UsageWrite[] {
  const start = new Date(subscription.current_period_start).getTime();
  const span = new Date(subscription.current_period_end).getTime() - start;
  return Array.from({ length: records }, (_, r): UsageWrite => {
    const metric = METRICS[r % METRICS.length]!;
    return {
      index: r,
      subscription_id: subscription.id,
      customer_id: subscription.customer_id,
      idempotency_key: `gw-${r}`,
      metric,
      quantity: metric === 'calls' ? String(1 + ((i * 31 + r * 7) % 50)) : `${(i * 13 + r * 17) % 2000}.25`,
      timestamp: new Date(start + Math.floor(((r + 1) * span) / (records + 1))).toISOString(),
      period_start: subscription.current_period_start,
      period_end: subscription.current_period_end,
      price: priceOf(metric),
    };
  });
}

/**
 * Customers and subscriptions through their use cases, then the usage of each subscription, each
 * step timed until local mode's stream work for it is done.
 */
async function seed(
  service: BenchService,
  tableName: string,
  planId: string,
  scale: { subscriptions: number; records: number },
  priceOf: (metric: string) => Price,
) {
  const n = scale.subscriptions;
  const steps: [string, number, number][] = [];
  /** `work(i)` for i in [0, count), until local mode's stream work for it is done too. */
  const step = async (what: string, count: number, items: number, work: (i: number) => Promise<void>) => {
    const started = performance.now();
    await runConcurrently(count, SEED_CONCURRENCY, work);
    await service.runtime.settled();
    steps.push([what, items, elapsed(started)]);
  };
  const caller = (i: number) => ({ principal: OPERATOR, requestId: `bench-${i}`, now: new Date() });

  // The close never reads customers: a few subscriptions each keeps seeding shorter.
  const customerIds: string[] = new Array(Math.ceil(n / SUBSCRIPTIONS_PER_CUSTOMER));
  await step('customers (createCustomer)', customerIds.length, customerIds.length, async (i) => {
    const customer = await createCustomer(
      tableName,
      { name: `Bench ${i}`, email: `bench${i}@example.com` },
      caller(i),
      undefined,
    );
    customerIds[i] = customer.id;
  });
  const subscriptions: Subscription[] = new Array(n);
  await step('subscriptions (createSubscription)', n, n, async (i) => {
    subscriptions[i] = await createSubscription(
      tableName,
      { customer_id: customerIds[Math.floor(i / SUBSCRIPTIONS_PER_CUSTOMER)]!, plan_id: planId },
      caller(i),
      undefined,
    );
  });

  const repository = new UsageRepository(tableName);
  const itemsOf = (i: number) =>
    usageItems(repository, usageRecords(i, subscriptions[i]!, scale.records, priceOf), i % USAGE_SHARDS);
  await step(`usage record claims (BatchWriteItem of ${BATCH_WRITE})`, n, n * scale.records, async (i) => {
    const { claims } = itemsOf(i);
    for (let c = 0; c < claims.length; c += BATCH_WRITE) {
      let requests = claims.slice(c, c + BATCH_WRITE).map((Item) => ({ PutRequest: { Item } }));
      while (requests.length > 0) {
        const { UnprocessedItems } = await dynamo().send(
          new BatchWriteCommand({ RequestItems: { [tableName]: requests } }),
        );
        requests = (UnprocessedItems?.[tableName] ?? []).flatMap((r) =>
          r.PutRequest?.Item ? [{ PutRequest: { Item: r.PutRequest.Item } }] : [],
        );
      }
    }
  });
  const seeded: Seeded[] = new Array(n);
  const counters = subscriptions.map((subscription, i) => {
    const { writes, counters } = itemsOf(i);
    const quantities = new Map(
      METRICS.map((metric) => [
        metric,
        sumQuantities(writes.filter((w) => w.metric === metric).map((w) => w.quantity)),
      ]),
    );
    seeded[i] = { subscription, quantities, counterKeys: counters.map((c) => c.Key as TableKey) };
    return counters;
  });
  // Interleaved over subscriptions, as live traffic is: a subscription's counters written in a
  // burst make its SmartGateway budget row's sync updates conflict and retry one another.
  const perSubscription = Math.max(...counters.map((c) => c.length));
  const started = performance.now();
  await runConcurrently(n * perSubscription, SEED_CONCURRENCY, async (k) => {
    const counter = counters[k % n]![Math.floor(k / n)];
    if (counter) await dynamo().send(new UpdateCommand(counter));
  });
  await service.runtime.settled();
  steps.push([
    'usage counters (UpdateItem, interleaved over subscriptions)',
    counters.reduce((sum, c) => sum + c.length, 0),
    elapsed(started),
  ]);
  return { subscriptions, seeded, steps };
}

/**
 * The items UsageRepository.count writes for `writes` reported in one request: takeChunk's chunks,
 * each on the next shard from `firstShard` (count starts at a random one), with transactionFor's
 * record claims (Put) and counter Updates; its period-closed ConditionCheck writes nothing.
 */
function usageItems(repository: UsageRepository, writes: UsageWrite[], firstShard: number) {
  const claims: Record<string, unknown>[] = [];
  const counters: NonNullable<TransactItem['Update']>[] = [];
  // Reported in one batch just after the last record, before the period closed.
  const reportedAt = new Date(writes.at(-1)!.timestamp);
  let shard = firstShard;
  for (let pending: readonly UsageWrite[] = writes; pending.length > 0; shard = (shard + 1) % USAGE_SHARDS) {
    const chunk = takeChunk(pending);
    for (const item of repository.transactionFor(chunk, shard, reportedAt).items) {
      if (item.Put?.Item) claims.push(item.Put.Item);
      if (item.Update) counters.push(item.Update);
    }
    pending = pending.slice(chunk.length);
  }
  return { writes, claims, counters };
}

/** The job's work list, raw: the due index's partition of active subscriptions, up to `closeAt`. */
const dueQuery = (tableName: string, closeAt: Date): QueryCommandInput => ({
  TableName: tableName,
  IndexName: 'GSI3',
  KeyConditionExpression: 'GSI3PK = :pk AND GSI3SK < :by',
  ExpressionAttributeValues: {
    ':pk': { S: subscriptionsDuePartition('active') },
    ':by': { S: dueBy(closeAt) },
  },
});

/**
 * The items of a subscription's partition under one sort-key prefix, read consistently as the close
 * reads them: its pending invoice items (PENDING_ITEM_SK_PREFIX), a period's threshold-invoice
 * locators (thresholdInvoicesPrefix: progressive billing, whose amounts the close credits).
 */
const subscriptionItemsQuery = (
  tableName: string,
  subscriptionId: string,
  prefix: string,
): QueryCommandInput => ({
  TableName: tableName,
  KeyConditionExpression: 'PK = :pk AND begins_with(SK, :prefix)',
  ExpressionAttributeValues: {
    ':pk': { S: subscriptionKey(subscriptionId).PK },
    ':prefix': { S: prefix },
  },
  ConsistentRead: true,
});

const pricesQuery = (tableName: string, planId: string): QueryCommandInput => ({
  TableName: tableName,
  IndexName: 'GSI1',
  KeyConditionExpression: 'GSI1PK = :pk AND begins_with(GSI1SK, :prefix)',
  ExpressionAttributeValues: {
    ':pk': { S: byOwnerPartition(planKey(planId)) },
    ':prefix': { S: byOwnerPrefix('price') },
  },
});

async function queryAll(
  raw: DynamoDBClient,
  input: QueryCommandInput,
): Promise<Record<string, AttributeValue>[]> {
  const items: Record<string, AttributeValue>[] = [];
  let start: Record<string, AttributeValue> | undefined;
  do {
    const page = await raw.send(new QueryCommand({ ...input, ExclusiveStartKey: start }));
    items.push(...(page.Items ?? []));
    start = page.LastEvaluatedKey;
  } while (start);
  return items;
}

/**
 * Exactly the items the close reads, each read once by the cheapest raw call: the due subscriptions,
 * their counter items by key (all shards, metrics and prices that were written), their pending items
 * and their period's threshold invoices (a Query each: their keys are not known), and the prices of
 * each plan once.
 */
async function rawReadOfCloseItems(
  raw: DynamoDBClient,
  tableName: string,
  closeAt: Date,
  counterKeysOf: Map<string, TableKey[]>,
) {
  const due = await queryAll(raw, dueQuery(tableName, closeAt));
  const ids = due.map((item) => item.id!.S!);
  const keys = ids.flatMap((id) => counterKeysOf.get(id) ?? []);
  const planIds = [...new Set(due.map((item) => item.plan_id!.S!))];
  const result = {
    subscriptions: due.length,
    counters: 0,
    records: 0,
    pendingQueries: ids.length,
    pending: 0,
    thresholdInvoices: 0,
    prices: 0,
  };
  const tasks: (() => Promise<void>)[] = [];
  for (let i = 0; i < keys.length; i += BATCH_GET) {
    const chunk = keys.slice(i, i + BATCH_GET);
    tasks.push(async () => {
      let pending: Record<string, AttributeValue>[] | undefined = chunk.map((k) => ({
        PK: { S: k.PK },
        SK: { S: k.SK },
      }));
      while (pending && pending.length > 0) {
        const response: BatchGetItemCommandOutput = await raw.send(
          new BatchGetItemCommand({ RequestItems: { [tableName]: { Keys: pending, ConsistentRead: true } } }),
        );
        for (const item of response.Responses?.[tableName] ?? []) {
          result.counters++;
          result.records += Number(item.record_count?.N ?? 0);
        }
        pending = response.UnprocessedKeys?.[tableName]?.Keys;
      }
    });
  }
  for (const item of due) {
    const id = item.id!.S!;
    tasks.push(async () => {
      result.pending += (
        await queryAll(raw, subscriptionItemsQuery(tableName, id, PENDING_ITEM_SK_PREFIX))
      ).length;
    });
    tasks.push(async () => {
      const periodStart = item.current_period_start!.S!;
      result.thresholdInvoices += (
        await queryAll(raw, subscriptionItemsQuery(tableName, id, thresholdInvoicesPrefix(periodStart)))
      ).length;
    });
  }
  for (const planId of planIds) {
    tasks.push(async () => {
      result.prices += (await queryAll(raw, pricesQuery(tableName, planId))).length;
    });
  }
  await runConcurrently(tasks.length, READ_CONCURRENCY, (i) => tasks[i]!());
  return result;
}

async function countInvoices(raw: DynamoDBClient, tableName: string): Promise<number> {
  let count = 0;
  let start: Record<string, AttributeValue> | undefined;
  do {
    const page = await raw.send(
      new QueryCommand({
        TableName: tableName,
        IndexName: 'GSI2',
        KeyConditionExpression: 'GSI2PK = :pk',
        ExpressionAttributeValues: { ':pk': { S: byTypePartition('invoice') } },
        Select: 'COUNT',
        ExclusiveStartKey: start,
      }),
    );
    count += page.Count ?? 0;
    start = page.LastEvaluatedKey;
  } while (start);
  return count;
}

/**
 * Each subscription's invoice for the seeded period (by its derived id) has the flat fee, one usage
 * line per metric with exactly the seeded quantity, and the total those lines imply.
 */
async function checkTotals(
  tableName: string,
  seeded: Seeded[],
  priceOf: (metric: string) => Price,
): Promise<{ matching: number; firstMismatch: string | undefined }> {
  let matching = 0;
  let firstMismatch: string | undefined;
  await runConcurrently(Math.ceil(seeded.length / BATCH_GET), READ_CONCURRENCY, async (b) => {
    const chunk = seeded.slice(b * BATCH_GET, (b + 1) * BATCH_GET);
    const found = new Map<string, Invoice>();
    let keys: Record<string, unknown>[] | undefined = chunk.map((s) =>
      invoiceKey(invoiceIdFor(s.subscription.id, s.subscription.current_period_start)),
    );
    while (keys && keys.length > 0) {
      const response: BatchGetCommandOutput = await dynamo().send(
        new BatchGetCommand({ RequestItems: { [tableName]: { Keys: keys, ConsistentRead: true } } }),
      );
      for (const item of response.Responses?.[tableName] ?? []) found.set(String(item.id), item as Invoice);
      keys = response.UnprocessedKeys?.[tableName]?.Keys;
    }
    for (const { subscription, quantities } of chunk) {
      const invoice = found.get(invoiceIdFor(subscription.id, subscription.current_period_start));
      const expectedLines = [
        { kind: 'subscription_fee', metric: null, quantity: null, amount: FLAT_FEE },
        ...METRICS.map((metric) => ({
          kind: 'usage',
          metric,
          quantity: quantities.get(metric)!,
          amount: rateUsage(priceOf(metric), quantities.get(metric)!),
        })),
      ];
      const expectedTotal = expectedLines.reduce((sum, line) => sum + line.amount, 0);
      const lines = (invoice?.lines ?? []).map(({ kind, metric, quantity, amount }) => ({
        kind,
        metric,
        quantity,
        amount,
      }));
      const ok =
        invoice !== undefined &&
        invoice.total === expectedTotal &&
        invoice.amount_due === expectedTotal &&
        invoice.period_start === subscription.current_period_start &&
        JSON.stringify(lines) === JSON.stringify(expectedLines);
      if (ok) matching++;
      else
        firstMismatch ??= `${subscription.id}: expected total ${expectedTotal} from ${JSON.stringify(expectedLines)}, found ${invoice ? `${invoice.total} from ${JSON.stringify(lines)}` : 'no invoice'}`;
    }
  });
  return { matching, firstMismatch };
}

const elapsed = (started: number) => (performance.now() - started) / 1000;
const fmt = (seconds: number) => seconds.toFixed(2);
