import { BatchWriteItemCommand, type DynamoDBClient, QueryCommand } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { dynamoRaw } from '../../shared/store/client.ts';
import { usageAggregatePartition } from '../../shared/store/keys.ts';
import { MAX_PARTITIONS_PER_SELECT, selectFromPartitions } from '../../shared/store/partiql.ts';
import { UsageRepository } from '../../shared/store/usage-repository.ts';
import { useTestStore } from '../support/store.ts';

/**
 * selectFromPartitions must return exactly what a Query per partition returns (the usage close sums
 * money over it): every page, only the partitions named, only the sort-key prefix asked for.
 */
let store: Awaited<ReturnType<typeof useTestStore>>;
beforeAll(async () => {
  store = await useTestStore();
});

async function put(client: DynamoDBClient, table: string, items: { PK: string; SK: string; pad?: number }[]) {
  for (let i = 0; i < items.length; i += 25) {
    await client.send(
      new BatchWriteItemCommand({
        RequestItems: {
          [table]: items.slice(i, i + 25).map(({ PK, SK, pad }) => ({
            PutRequest: {
              Item: { PK: { S: PK }, SK: { S: SK }, n: { N: '1' }, pad: { S: 'x'.repeat(pad ?? 1) } },
            },
          })),
        },
      }),
    );
  }
}

const queryEach = async (table: string, partitions: string[], prefix: string) =>
  (
    await Promise.all(
      partitions.map((pk) =>
        store.client.send(
          new QueryCommand({
            TableName: table,
            KeyConditionExpression: 'PK = :pk AND begins_with(SK, :p)',
            ExpressionAttributeValues: { ':pk': { S: pk }, ':p': { S: prefix } },
            ConsistentRead: true,
          }),
        ),
      ),
    )
  ).flatMap((page) => page.Items ?? []);

const keysOf = (items: Record<string, { S?: string }>[]) =>
  items.map((item) => `${item.PK!.S} ${item.SK!.S}`).sort();

describe('selectFromPartitions', () => {
  it('reads what a Query of each partition reads, across pages, and nothing else', async () => {
    const table = store.tables.billing;
    const partitions = Array.from({ length: 8 }, (_, shard) => `SEL#a#${shard}`);
    // Over 1 MB in the selected partitions (DynamoDB pages at 1 MB), plus neighbours that must not
    // show: another period's prefix, a partition not named, a sort key that only contains the prefix.
    await put(store.client, table, [
      ...partitions.flatMap((pk, shard) =>
        Array.from({ length: 1 + (shard % 3) }, (_, i) => ({ PK: pk, SK: `2026-02#m${i}`, pad: 150_000 })),
      ),
      ...partitions.map((pk) => ({ PK: pk, SK: '2026-01#m0' })),
      ...partitions.map((pk) => ({ PK: pk, SK: 'x2026-02#m0' })),
      { PK: 'SEL#a#8', SK: '2026-02#m0' },
      { PK: 'SEL#b#0', SK: '2026-02#m0' },
    ]);
    let pages = 0;
    dynamoRaw().middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'ExecuteStatementCommand') pages++;
        return next(args);
      },
      { step: 'initialize', name: 'countSelectPages' },
    );
    const selected = await selectFromPartitions(table, partitions, '2026-02#').finally(() =>
      dynamoRaw().middlewareStack.remove('countSelectPages'),
    );
    expect(pages).toBeGreaterThan(1);
    const queried = await queryEach(table, partitions, '2026-02#');
    expect(queried.length).toBe(15); // 1, 2 or 3 per partition, about 2.2 MB in all
    expect(keysOf(selected)).toEqual(keysOf(queried));
    expect(selected.every((item) => item.n?.N === '1')).toBe(true);
  }, 60_000);

  it('reads nothing for no partitions and refuses more than DynamoDB takes in one IN list', async () => {
    await expect(selectFromPartitions(store.tables.billing, [], 'x')).resolves.toEqual([]);
    const tooMany = Array.from({ length: MAX_PARTITIONS_PER_SELECT + 1 }, (_, i) => `SEL#${i}`);
    await expect(selectFromPartitions(store.tables.billing, tooMany, 'x')).rejects.toThrow(RangeError);
  });

  it("usage totals sum a price's shards exactly and take its snapshot from its lowest shard", async () => {
    const table = store.tables.billing;
    const period = '2026-03-01T00:00:00.000Z';
    const snapshot = (nickname: string) => marshall({ id: 'price_x', metric: 'calls', nickname });
    const counter = (shard: number, quantity: string, nickname: string) => ({
      PutRequest: {
        Item: {
          PK: { S: usageAggregatePartition('sub_sort', shard) },
          SK: { S: `${period}#calls#price_x` },
          metric: { S: 'calls' },
          price_id: { S: 'price_x' },
          price: { M: snapshot(nickname) },
          quantity: { N: quantity },
          record_count: { N: '1' },
          period_end: { S: '2026-04-01T00:00:00.000Z' },
        },
      },
    });
    await store.client.send(
      new BatchWriteItemCommand({
        RequestItems: {
          [table]: [counter(5, '0.000001', 'from shard 5'), counter(2, '9007199254740993.5', 'from shard 2')],
        },
      }),
    );
    const [total, ...others] = await new UsageRepository(table).aggregates('sub_sort', period);
    expect(others).toEqual([]);
    expect(total!.quantity).toBe('9007199254740993.500001');
    expect(total!.records).toBe(2);
    expect((total!.price as unknown as { nickname: string }).nickname).toBe('from shard 2');
  });
});
