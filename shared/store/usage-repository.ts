import { type AttributeValue, QueryCommand } from '@aws-sdk/client-dynamodb';
import { NumberValue } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { runConcurrently } from '../concurrency.ts';
import { config } from '../config.ts';
import type { Price } from '../domain/catalog.ts';
import { DomainError } from '../domain/errors.ts';
import {
  compareQuantities,
  millionthsToQuantity,
  quantityToMillionths,
  sumQuantities,
  USAGE_SHARDS,
  usageRecordsKeptUntil,
} from '../domain/usage.ts';
import { type DigestParts, digestOf, recordDigestParts, sumDigestParts } from '../domain/usage-digest.ts';
import { shardQuantityLimit } from '../domain/usage-limits.ts';
import { batchGetAll } from './batch-get.ts';
import { dynamoRaw } from './client.ts';
import {
  periodClosedKey,
  usageAggregateKey,
  usageAggregatePartition,
  usageRecordKey,
  usageRecordListingKey,
  usageRecordListingPartition,
  usageRecordListingPrefix,
} from './keys.ts';
import { decodeCursor, encodeCursor, type Page } from './pagination.ts';
import { selectFromPartitions } from './partiql.ts';
import { type TransactItem, transactOnce } from './transact.ts';

/** One usage record that passed validation, ready to be counted once. */
export type UsageWrite = {
  index: number;
  subscription_id: string;
  customer_id: string;
  idempotency_key: string;
  metric: string;
  quantity: string;
  timestamp: string;
  period_start: string;
  period_end: string;
  price: Price;
};

/** `over-limit`: counting it would take its period's total past what an invoice line can hold. */
export type UsageWriteOutcome = 'accepted' | 'duplicate' | 'period-closed' | 'over-limit';

export type UsageAggregate = {
  metric: string;
  quantity: string;
  records: number;
  /**
   * The digest of the records' idempotency keys (shared/domain/usage-digest.ts); null when some of
   * them were counted before the digest existed (an older counter shard), rather than a wrong one.
   */
  records_digest: string | null;
  /** Until when every one of these records is kept (the shortest retention any was counted with). */
  records_kept_until: string;
  price: Price;
};

/** One counted usage record, as the listing shows it (quantity as exact decimal text). */
export type UsageRecordEntry = {
  idempotency_key: string;
  timestamp: string;
  quantity: string;
  metric: string;
  price_id: string;
};

/** DynamoDB's limit on items in one transaction. */
const MAX_TRANSACTION_ITEMS = 100;
/** Shards tried after conflicts before answering 409 (every shard twice). */
const MAX_SHARD_CONFLICTS = 2 * USAGE_SHARDS;
/** Transactions of one request in flight at once. */
const PARALLEL_TRANSACTIONS = 4;
/** How long records were kept before their retention was a setting (and counted on the shards). */
const RETENTION_DAYS_BEFORE_SETTING = 60;

export class UsageRepository {
  constructor(private readonly tableName: string) {}

  /** Keys already counted, as `subscription_id#idempotency_key`; strongly consistent. */
  async alreadyCounted(
    records: readonly Pick<UsageWrite, 'subscription_id' | 'idempotency_key'>[],
  ): Promise<Set<string>> {
    const seen = new Set<string>();
    const items = await batchGetAll(
      this.tableName,
      records.map((r) => usageRecordKey(r.subscription_id, r.idempotency_key)),
      'subscription_id, idempotency_key',
    );
    for (const item of items) seen.add(`${item.subscription_id}#${item.idempotency_key}`);
    return seen;
  }

  /**
   * Counts each record at most once: in each transaction, the record items are created only if
   * absent, the period must not be closed, and the aggregate shard gets the chunk's sum. A record
   * whose key appeared meanwhile (a concurrent copy) or whose period closed meanwhile is taken out
   * and the rest retried, so one bad record never loses the good ones.
   */
  async count(writes: readonly UsageWrite[], now: Date): Promise<Map<number, UsageWriteOutcome>> {
    const outcomes = new Map<number, UsageWriteOutcome>();
    const chunks: UsageWrite[][] = [];
    for (let pending = [...writes]; pending.length > 0; ) {
      const chunk = takeChunk(pending);
      chunks.push(chunk);
      pending = pending.slice(chunk.length);
    }
    // Chunks run in parallel, each on its own shard (round robin from a random start), so the
    // transactions of one request never contend for the same aggregate item.
    const firstShard = Math.floor(Math.random() * USAGE_SHARDS);
    await runConcurrently(chunks.length, PARALLEL_TRANSACTIONS, (i) =>
      this.countChunk(chunks[i]!, (firstShard + i) % USAGE_SHARDS, now, outcomes),
    );
    return outcomes;
  }

  private async countChunk(
    chunk: readonly UsageWrite[],
    firstShard: number,
    now: Date,
    outcomes: Map<number, UsageWriteOutcome>,
  ): Promise<void> {
    let shard = firstShard;
    let conflicts = 0;
    let fullShards = 0;
    // Records whose counter group would not fit a shard's share of the period limit together are
    // counted one by one, in order, so those before the one that crosses it stay counted.
    const oneByOne: UsageWrite[] = [];
    let remaining = chunk.filter((write) => {
      const fits = compareQuantities(write.quantity, shardLimitOf(write.price)) <= 0;
      if (!fits) outcomes.set(write.index, 'over-limit');
      return fits;
    });
    for (const [, group] of groupBy(remaining, aggregateId)) {
      const sum = sumQuantities(group.map((w) => w.quantity));
      if (group.length > 1 && compareQuantities(sum, shardLimitOf(group[0]!.price)) > 0)
        oneByOne.push(...group);
    }
    remaining = remaining.filter((write) => !oneByOne.includes(write));
    while (remaining.length > 0) {
      const { items, recordAt, periodAt, aggregateAt } = this.transactionFor(remaining, shard, now);
      const result = await transactOnce(items);
      if (result === 'transaction-conflict') {
        // Another transaction holds this counter shard: move to the next shard instead of waiting.
        if (++conflicts > MAX_SHARD_CONFLICTS) {
          throw new DomainError(
            'conflict',
            'Usage counters are busy; retry the request (records already counted stay counted)',
          );
        }
        shard = (shard + 1) % USAGE_SHARDS;
        continue;
      }
      if (result.ok) {
        for (const write of remaining) outcomes.set(write.index, 'accepted');
        break;
      }
      const failed = new Set<UsageWrite>();
      let tryNextShard = false;
      for (const position of result.failedConditions) {
        const record = recordAt.get(position);
        if (record) {
          outcomes.set(record.index, 'duplicate');
          failed.add(record);
        }
        const period = periodAt.get(position);
        if (period) {
          for (const write of remaining.filter((w) => periodId(w) === period)) {
            outcomes.set(write.index, 'period-closed');
            failed.add(write);
          }
        }
        // Record claims come first in the transaction, so a duplicate is known here and keeps its outcome.
        const full = aggregateAt.get(position)?.filter((write) => !failed.has(write));
        if (full && full.length > 0) {
          if (remaining.length === 1 && ++fullShards < USAGE_SHARDS) {
            // One record alone, its shard full: another shard of the period may have room.
            tryNextShard = true;
          } else {
            if (remaining.length === 1) outcomes.set(full[0]!.index, 'over-limit');
            else oneByOne.push(...full);
            for (const write of full) failed.add(write);
          }
        }
      }
      if (tryNextShard) {
        shard = (shard + 1) % USAGE_SHARDS;
        continue;
      }
      if (failed.size === 0) throw new Error('Usage transaction failed a condition it does not check');
      remaining = remaining.filter((write) => !failed.has(write));
    }
    for (const write of oneByOne.sort((a, b) => a.index - b.index)) {
      if (!outcomes.has(write.index)) await this.countChunk([write], shard, now, outcomes);
    }
  }

  /**
   * The items of one counting transaction on `shard`: each record's claim (Put), the shard's counter
   * per (period, metric, price) (Update), and the period-closed check (ConditionCheck). Public (as is
   * takeChunk) so the close-periods benchmark can seed the exact items `count` writes without running
   * a transaction for each chunk.
   */
  transactionFor(writes: readonly UsageWrite[], shard: number, now: Date) {
    const items: TransactItem[] = [];
    const recordAt = new Map<number, UsageWrite>();
    const periodAt = new Map<number, string>();
    const aggregateAt = new Map<number, UsageWrite[]>();
    // Kept long after the period is closed to late usage: the records are the evidence behind a line.
    const retentionDays = config().usageRecordRetentionDays;
    const retentionSeconds = retentionDays * 86_400;
    for (const write of writes) {
      recordAt.set(items.length, write);
      items.push({
        Put: {
          TableName: this.tableName,
          Item: {
            ...usageRecordKey(write.subscription_id, write.idempotency_key),
            ...usageRecordListingKey(
              write.subscription_id,
              write.period_start,
              shard,
              write.metric,
              write.price.id,
              write.timestamp,
              write.idempotency_key,
            ),
            item_type: 'usage_record',
            subscription_id: write.subscription_id,
            idempotency_key: write.idempotency_key,
            metric: write.metric,
            price_id: write.price.id,
            quantity: NumberValue.from(write.quantity),
            timestamp: write.timestamp,
            period_start: write.period_start,
            received_at: now.toISOString(),
            expires_at: Math.floor(new Date(write.period_end).getTime() / 1000) + retentionSeconds,
          },
          ConditionExpression: 'attribute_not_exists(PK)',
        },
      });
    }
    for (const [, group] of groupBy(writes, aggregateId)) {
      const first = group[0]!;
      const added = sumQuantities(group.map((w) => w.quantity));
      const digest = sumDigestParts(group.map((w) => recordDigestParts(w.idempotency_key)));
      aggregateAt.set(items.length, group);
      items.push({
        Update: {
          TableName: this.tableName,
          Key: usageAggregateKey(
            first.subscription_id,
            shard,
            first.period_start,
            first.metric,
            first.price.id,
          ),
          // Every attribute by placeholder: several of these names are DynamoDB reserved words.
          UpdateExpression:
            // The digest halves are exact sums (DynamoDB numbers hold 38 digits; each half < 2^64 has 20),
            // and digest_records says how many of the shard's records they cover.
            'ADD #quantity :quantity, #records :records, #version :one, ' +
            '#digestHigh :digestHigh, #digestLow :digestLow, #digestRecords :records, #kept :records ' +
            'SET #type = :type, #subscription = :subscription, #customer = :customer, #metric = :metric, ' +
            '#start = :start, #end = :end, #shard = :shard, #priceId = :priceId, #price = :price, #updated = :now',
          ExpressionAttributeNames: {
            '#quantity': 'quantity',
            '#records': 'record_count',
            '#version': 'version',
            '#digestHigh': 'digest_high',
            '#digestLow': 'digest_low',
            '#digestRecords': 'digest_records',
            // How many of the shard's records are kept this many days (a setting changed mid-period
            // leaves two counters): a line's records are all listable until the shortest ends.
            '#kept': keptAttribute(retentionDays),
            '#type': 'item_type',
            '#subscription': 'subscription_id',
            '#customer': 'customer_id',
            '#metric': 'metric',
            '#start': 'period_start',
            '#end': 'period_end',
            '#shard': 'shard',
            '#price': 'price',
            '#priceId': 'price_id',
            '#updated': 'updated_at',
          },
          // The shard's share of the period limit (shared/domain/usage-limits.ts): the total after
          // this write stays within it. The caller never sends a group larger than the share.
          ConditionExpression: 'attribute_not_exists(#quantity) OR #quantity <= :room',
          ExpressionAttributeValues: {
            ':quantity': NumberValue.from(added),
            ':room': NumberValue.from(roomFor(shardLimitOf(first.price), added)),
            ':records': group.length,
            ':digestHigh': NumberValue.from(digest.high.toString()),
            ':digestLow': NumberValue.from(digest.low.toString()),
            ':one': 1,
            ':type': 'usage_aggregate',
            ':subscription': first.subscription_id,
            ':customer': first.customer_id,
            ':metric': first.metric,
            ':start': first.period_start,
            ':end': first.period_end,
            ':shard': shard,
            ':price': first.price,
            ':priceId': first.price.id,
            ':now': now.toISOString(),
          },
        },
      });
    }
    for (const [id, group] of groupBy(writes, periodId)) {
      periodAt.set(items.length, id);
      items.push({
        ConditionCheck: {
          TableName: this.tableName,
          Key: periodClosedKey(group[0]!.subscription_id, group[0]!.period_start, shard),
          ConditionExpression: 'attribute_not_exists(PK)',
        },
      });
    }
    return { items, recordAt, periodAt, aggregateAt };
  }

  /**
   * Every metric's exact total for one period, summed over the shards: one consistent read of all
   * the shards' partitions at once (selectFromPartitions), not a Query per shard.
   */
  async aggregates(subscriptionId: string, periodStart: string): Promise<UsageAggregate[]> {
    const partitions = Array.from({ length: USAGE_SHARDS }, (_, shard) =>
      usageAggregatePartition(subscriptionId, shard),
    );
    const shardOf = new Map(partitions.map((partition, shard) => [partition, shard]));
    // In shard order, as the Queries per shard were read: a price's lowest shard names its snapshot
    // (a shard holds one item per metric and price, so the order within a shard does not matter).
    const items = (await selectFromPartitions(this.tableName, partitions, `${periodStart}#`)).sort(
      (a, b) => shardOf.get(a.PK!.S!)! - shardOf.get(b.PK!.S!)!,
    );
    type Entry = Omit<UsageAggregate, 'records_digest' | 'records_kept_until'> & {
      parts: string[];
      digest: DigestParts | null;
      periodEnd: string;
      keptDays: number;
    };
    const byMetric = new Map<string, Entry>();
    for (const item of items) {
      const metric = item.metric?.S ?? '';
      const group = `${metric}#${item.price_id?.S ?? ''}`;
      const entry: Entry = byMetric.get(group) ?? {
        metric,
        quantity: '0',
        records: 0,
        price: unmarshall(item.price?.M ?? {}) as Price,
        parts: [],
        digest: { high: 0n, low: 0n },
        periodEnd: item.period_end?.S ?? periodStart,
        keptDays: Number.POSITIVE_INFINITY,
      };
      // Quantities and digest halves are read as DynamoDB's exact decimal text, never through a float.
      entry.parts.push(item.quantity?.N ?? '0');
      const records = item.record_count?.N ?? '0';
      entry.records += Number(records);
      // A shard counted (partly) before the digest existed covers fewer records than it holds.
      const covered = item.digest_records?.N === records && item.digest_high?.N && item.digest_low?.N;
      entry.digest =
        covered && entry.digest
          ? sumDigestParts([
              entry.digest,
              { high: BigInt(item.digest_high!.N!), low: BigInt(item.digest_low!.N!) },
            ])
          : null;
      entry.keptDays = Math.min(entry.keptDays, keptDaysOf(item, Number(records)));
      byMetric.set(group, entry);
    }
    return [...byMetric.values()]
      .map(({ parts, digest, periodEnd, keptDays, ...aggregate }) => ({
        ...aggregate,
        quantity: sumQuantities(parts),
        records_digest: digest ? digestOf(digest) : null,
        records_kept_until: usageRecordsKeptUntil(periodEnd, keptDays).toISOString(),
      }))
      .sort((a, b) => a.metric.localeCompare(b.metric) || a.price.id.localeCompare(b.price.id));
  }

  /**
   * One page of a period's counted records (all, one metric, or one line: metric and price), read
   * shard after shard: by shard, then by metric, price, timestamp and key. The cursor is the last
   * record's index key, so it names its shard and resumes right after it.
   */
  async listRecords(
    subscriptionId: string,
    periodStart: string,
    of: { metric?: string | undefined; priceId?: string | undefined },
    limit: number,
    cursor: string | undefined,
  ): Promise<Page<UsageRecordEntry>> {
    const prefix = usageRecordListingPrefix(of.metric, of.metric === undefined ? undefined : of.priceId);
    const partitions = Array.from({ length: USAGE_SHARDS }, (_, shard) =>
      usageRecordListingPartition(subscriptionId, periodStart, shard),
    );
    const start = decodeCursor(cursor, { attribute: 'GSI1PK', value: partitions, prefix });
    let shard = start ? partitions.indexOf(start.GSI1PK!) : 0;
    let startKey: Record<string, AttributeValue> | undefined = start
      ? Object.fromEntries(Object.entries(start).map(([name, value]) => [name, { S: value }]))
      : undefined;
    const items: Record<string, AttributeValue>[] = [];
    while (shard < USAGE_SHARDS && items.length < limit) {
      const page = await dynamoRaw().send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: 'GSI1',
          // DynamoDB refuses an empty begins_with: the whole period is the partition alone.
          KeyConditionExpression: prefix ? 'GSI1PK = :pk AND begins_with(GSI1SK, :prefix)' : 'GSI1PK = :pk',
          ExpressionAttributeValues: {
            ':pk': { S: partitions[shard]! },
            ...(prefix ? { ':prefix': { S: prefix } } : {}),
          },
          ExclusiveStartKey: startKey,
          Limit: limit - items.length,
        }),
      );
      items.push(...(page.Items ?? []));
      startKey = page.LastEvaluatedKey;
      if (!startKey) shard++;
    }
    const last = items[items.length - 1];
    const more = shard < USAGE_SHARDS && last !== undefined;
    return {
      data: items.map((item) => ({
        idempotency_key: item.idempotency_key?.S ?? '',
        timestamp: item.timestamp?.S ?? '',
        quantity: item.quantity?.N ?? '0',
        metric: item.metric?.S ?? '',
        price_id: item.price_id?.S ?? '',
      })),
      next_cursor: more
        ? encodeCursor(Object.fromEntries(['PK', 'SK', 'GSI1PK', 'GSI1SK'].map((k) => [k, last[k]?.S])))
        : null,
    };
  }
}

/** The shard attribute counting the records kept `days` after their period. */
const keptAttribute = (days: number) => `records_kept_${days}d`;

/**
 * The shortest retention of a shard's records: the least `days` of its counters, or the retention
 * before the setting existed (60 days) when the counters cover fewer records than the shard holds.
 */
function keptDaysOf(item: Record<string, AttributeValue>, records: number): number {
  let covered = 0;
  let days = Number.POSITIVE_INFINITY;
  for (const [name, value] of Object.entries(item)) {
    const match = /^records_kept_(\d+)d$/.exec(name);
    if (!match) continue;
    covered += Number(value.N ?? 0);
    days = Math.min(days, Number(match[1]));
  }
  return covered < records ? Math.min(days, RETENTION_DAYS_BEFORE_SETTING) : days;
}

const aggregateId = (w: UsageWrite) => `${w.subscription_id}#${w.period_start}#${w.metric}#${w.price.id}`;
const periodId = (w: UsageWrite) => `${w.subscription_id}#${w.period_start}`;

function groupBy<T>(values: readonly T[], key: (value: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const value of values) groups.set(key(value), [...(groups.get(key(value)) ?? []), value]);
  return groups;
}

/** The longest prefix whose records, aggregates and period checks fit in one transaction. */
export function takeChunk(writes: readonly UsageWrite[]): UsageWrite[] {
  const aggregates = new Set<string>();
  const periods = new Set<string>();
  let size = 0;
  let count = 0;
  for (const write of writes) {
    const extra = 1 + (aggregates.has(aggregateId(write)) ? 0 : 1) + (periods.has(periodId(write)) ? 0 : 1);
    if (size + extra > MAX_TRANSACTION_ITEMS) break;
    size += extra;
    aggregates.add(aggregateId(write));
    periods.add(periodId(write));
    count++;
  }
  return writes.slice(0, count);
}

/**
 * A price's counter-shard share of the period limit, worked out once per price: a request's records
 * share their price objects, and the limit parses the price (tiers and all) each time it is computed.
 */
const shardLimits = new WeakMap<Price, string>();
function shardLimitOf(price: Price): string {
  let limit = shardLimits.get(price);
  if (limit === undefined) {
    limit = shardQuantityLimit(price);
    shardLimits.set(price, limit);
  }
  return limit;
}

/** How much a shard may already hold for `added` to fit within `limit` (never below zero). */
function roomFor(limit: string, added: string): string {
  const room = quantityToMillionths(limit) - quantityToMillionths(added);
  return millionthsToQuantity(room > 0n ? room : 0n);
}
