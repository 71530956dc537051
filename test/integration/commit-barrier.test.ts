import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { addCommitBarrier } from '../../local/commit-barrier.ts';
import {
  ensureTables,
  LOCAL_AWS,
  type LocalDynamoDb,
  startDynamoDbLocal,
} from '../../local/dynamodb-local.ts';
import { resetConfigCache } from '../../shared/config.ts';
import { batchGetAll } from '../../shared/store/batch-get.ts';
import { configureDynamoClients } from '../../shared/store/client.ts';
import { transactWrite } from '../../shared/store/transact.ts';

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
const LOCAL_ENV = {
  TABLE_NAME: TABLES.billing,
  AWS_REGION: LOCAL_AWS.region,
  AWS_ACCESS_KEY_ID: LOCAL_AWS.credentials.accessKeyId,
  AWS_SECRET_ACCESS_KEY: LOCAL_AWS.credentials.secretAccessKey,
};

afterAll(async () => {
  configureDynamoClients(undefined);
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
      // The service's own client and transaction helper, with the barrier added as the runtime adds it.
      Object.assign(process.env, { ...LOCAL_ENV, DYNAMODB_ENDPOINT: store.endpoint });
      resetConfigCache();
      configureDynamoClients(addCommitBarrier);
      // Everything acknowledged before every earlier kill is there.
      const found = new Set(
        (
          await batchGetAll(
            TABLES.billing,
            acknowledged.map((id) => ({ PK: `T#${id}`, SK: 'A' })),
          )
        ).map((item) => String(item.PK).slice(2)),
      );
      expect(
        acknowledged.filter((id) => !found.has(id)),
        `acknowledged before kill ${kill}, gone after it`,
      ).toEqual([]);
      if (kill === KILLS) break;
      // Writers sending two-item transactions until DynamoDB Local is killed under them.
      let stopped = false;
      const writers = Array.from({ length: WRITERS }, async () => {
        while (!stopped) {
          const id = `${kill}-${++sequence}`;
          try {
            const outcome = await transactWrite(
              ['A', 'B'].map((sk) => ({
                Put: { TableName: TABLES.billing, Item: { PK: `T#${id}`, SK: sk } },
              })),
            );
            if (outcome.ok) acknowledged.push(id);
          } catch {
            await sleep(5);
          }
        }
      });
      await sleep(800 + Math.random() * 1700);
      await killJava(store);
      stopped = true;
      await Promise.all(writers);
      store = undefined;
    }
    expect(acknowledged.length).toBeGreaterThan(KILLS * 20);
  }, 300_000);
});
