import { BatchWriteItemCommand, type DynamoDBClient, QueryCommand } from '@aws-sdk/client-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { MAX_PARTITIONS_PER_SELECT, selectFromPartitions } from '../../shared/store/partiql.ts';
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
    const selected = await selectFromPartitions(table, partitions, '2026-02#');
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
});
