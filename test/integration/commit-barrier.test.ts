import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BatchGetItemCommand, DynamoDBClient, TransactWriteItemsCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, describe, expect, it } from 'vitest';
import { addCommitBarrier } from '../../local/commit-barrier.ts';
import {
  ensureTables,
  LOCAL_AWS,
  type LocalDynamoDb,
  startDynamoDbLocal,
} from '../../local/dynamodb-local.ts';

/**
 * Found by the crash test (a finalize answered 2xx, then "Cannot pay a draft invoice"; a usage batch
 * counted, then gone): DynamoDB Local answers a TransactWriteItems a few milliseconds before it
 * commits, so a SIGKILL in between loses an acknowledged transaction. With the commit barrier every
 * transaction a writer was told succeeded is there after each kill and restart.
 *
 * DURABILITY_KILLS (default 6) sets the number of kills.
 */
const KILLS = Number(process.env.DURABILITY_KILLS ?? 6);
const WRITERS = 4;
const TABLES = { billing: 'barrier-billing', budgets: 'barrier-budgets', routingPolicies: 'barrier-routing' };
const folder = mkdtempSync(join(tmpdir(), 'commit-barrier-'));
const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

let store: LocalDynamoDb | undefined;
afterAll(async () => {
  await store?.stop();
  rmSync(folder, { recursive: true, force: true });
});

async function killJava(running: LocalDynamoDb): Promise<void> {
  process.kill(running.pid!, 'SIGKILL');
  for (;;) {
    try {
      process.kill(running.pid!, 0);
    } catch {
      break;
    }
    await sleep(20);
  }
  running.client.destroy();
}

describe('the commit barrier over DynamoDB Local', () => {
  it(`keeps every acknowledged transaction across ${KILLS} SIGKILLs of DynamoDB Local`, async () => {
    const acknowledged: string[] = [];
    let sequence = 0;
    for (let kill = 0; kill <= KILLS; kill++) {
      store = await startDynamoDbLocal({ dataDir: folder });
      await ensureTables(store.client, TABLES);
      const client = new DynamoDBClient({ ...LOCAL_AWS, endpoint: store.endpoint, maxAttempts: 1 });
      addCommitBarrier(client);
      // Everything acknowledged before every earlier kill is there.
      const missing: string[] = [];
      for (let i = 0; i < acknowledged.length; i += 100) {
        const ids = acknowledged.slice(i, i + 100);
        let keys = ids.map((id) => ({ PK: { S: `T#${id}` }, SK: { S: 'A' } }));
        const found = new Set<string>();
        while (keys.length > 0) {
          const page = await client.send(
            new BatchGetItemCommand({
              RequestItems: { [TABLES.billing]: { Keys: keys, ConsistentRead: true } },
            }),
          );
          for (const item of page.Responses?.[TABLES.billing] ?? []) found.add(item.PK!.S!.slice(2));
          keys = (page.UnprocessedKeys?.[TABLES.billing]?.Keys ?? []) as typeof keys;
        }
        missing.push(...ids.filter((id) => !found.has(id)));
      }
      expect(missing, `acknowledged before kill ${kill}, gone after it`).toEqual([]);
      if (kill === KILLS) break;
      // Writers sending two-item transactions until DynamoDB Local is killed under them.
      let stopped = false;
      const writers = Array.from({ length: WRITERS }, async () => {
        while (!stopped) {
          const id = `${kill}-${++sequence}`;
          try {
            await client.send(
              new TransactWriteItemsCommand({
                TransactItems: ['A', 'B'].map((sk) => ({
                  Put: { TableName: TABLES.billing, Item: { PK: { S: `T#${id}` }, SK: { S: sk } } },
                })),
              }),
            );
            acknowledged.push(id);
          } catch {
            await sleep(5);
          }
        }
      });
      await sleep(800 + Math.random() * 1700);
      await killJava(store);
      stopped = true;
      await Promise.all(writers);
      client.destroy();
      store = undefined;
    }
    expect(acknowledged.length).toBeGreaterThan(KILLS * 20);
  }, 300_000);
});
