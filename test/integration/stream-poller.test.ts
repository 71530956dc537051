import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient, GetRecordsCommand } from '@aws-sdk/client-dynamodb-streams';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startStreamPoller } from '../../local/stream-poller.ts';
import { eventually } from '../support/service-process.ts';
import { useTestStore } from '../support/store.ts';

/**
 * Found from outside: the local poller saved its checkpoint once the bus had accepted a batch's
 * events, before they were delivered, so a kill in between lost them for good; and the checkpoint
 * file, written in place, was left empty by a kill mid-write, failing the next start.
 */
let store: Awaited<ReturnType<typeof useTestStore>>;
beforeAll(async () => {
  store = await useTestStore();
});

const folder = mkdtempSync(join(tmpdir(), 'poller-'));
const stops: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const stop of stops) await stop();
});

const put = (id: string) =>
  store.client.send(
    new PutItemCommand({
      TableName: store.tables.billing,
      Item: { PK: { S: `TEST#${id}` }, SK: { S: 'PROFILE' }, item_type: { S: 'test' } },
    }),
  );

/** A poller on the test table that records the keys it is handed; `delivered` as the runtime passes it. */
async function pollerInto(
  checkpointFile: string,
  delivered?: () => Promise<void>,
  idle: { idleDelayMs: number; maxIdleDelayMs?: number } = { idleDelayMs: 5 },
) {
  const seen: string[] = [];
  const poller = await startStreamPoller({
    client: store.client,
    endpoint: process.env.DYNAMODB_ENDPOINT!, // set by useTestStore
    tableName: store.tables.billing,
    checkpointFile,
    ...idle,
    handler: async (event) => {
      seen.push(...event.Records.map((r) => r.dynamodb!.Keys!.PK!.S!));
      return { batchItemFailures: [] };
    },
    ...(delivered ? { delivered } : {}),
  });
  stops.push(poller.stop);
  return { poller, seen };
}

describe('the local stream poller', () => {
  it('moves its checkpoint only once what the batch published was delivered', async () => {
    const checkpointFile = join(folder, 'checkpoints.json');
    let deliver: () => void = () => undefined;
    let pending = 0;
    let released = false;
    const { seen } = await pollerInto(checkpointFile, () =>
      // Held until the test releases it; what later tests write is delivered at once.
      released
        ? Promise.resolve()
        : new Promise<void>((done) => {
            pending++;
            deliver = done;
          }),
    );
    await put('one');
    await eventually(() => pending > 0, 10_000);
    expect(seen).toContain('TEST#one');
    // Handled, but not yet delivered: a kill now must find the record again on restart.
    await new Promise((r) => setTimeout(r, 200));
    expect(existsSync(checkpointFile)).toBe(false);
    released = true;
    deliver();
    await eventually(() => existsSync(checkpointFile), 5_000);
    expect(Object.keys(JSON.parse(readFileSync(checkpointFile, 'utf8')).shards)).toHaveLength(1);
  });

  it('reads the stream again from its start when the checkpoint file is unreadable, instead of failing', async () => {
    const checkpointFile = join(folder, 'cut.json');
    writeFileSync(checkpointFile, '{"streamArn":"arn:aws:dyn'); // what an in-place write cut by a kill left
    const { poller, seen } = await pollerInto(checkpointFile);
    await poller.caughtUp();
    await poller.caughtUp();
    expect(seen).toContain('TEST#one');
    expect(JSON.parse(readFileSync(checkpointFile, 'utf8')).streamArn).toMatch(/^arn:aws:dynamodb/);
  });

  it('backs off while the stream is idle: a few GetRecords a second, not one every idle delay', async () => {
    const send = vi.spyOn(DynamoDBStreamsClient.prototype, 'send');
    try {
      const { poller } = await pollerInto(join(folder, 'idle.json'), undefined, {
        idleDelayMs: 5,
        maxIdleDelayMs: 250,
      });
      await poller.caughtUp();
      const before = send.mock.calls.filter(([command]) => command instanceof GetRecordsCommand).length;
      await new Promise((r) => setTimeout(r, 2000));
      const reads =
        send.mock.calls.filter(([command]) => command instanceof GetRecordsCommand).length - before;
      // Every 5 ms would be ~400 in 2 s; doubling up to 250 ms is at most ~14 (one shard).
      expect(reads).toBeGreaterThan(0);
      expect(reads).toBeLessThan(40);
    } finally {
      send.mockRestore();
    }
  });

  it('reads a write at once when woken, however long its idle wait', async () => {
    // A minute between idle passes: only wake() can make the record arrive within the test's time.
    const { poller, seen } = await pollerInto(join(folder, 'wake.json'), undefined, {
      idleDelayMs: 60_000,
      maxIdleDelayMs: 60_000,
    });
    await poller.caughtUp();
    await put('woken');
    poller.wake();
    await eventually(() => seen.includes('TEST#woken'), 5_000);
  });

  it('holds what is written while paused, and hands it over in order once resumed', async () => {
    const { poller, seen } = await pollerInto(join(folder, 'paused.json'));
    await poller.caughtUp();
    await poller.pause();
    await poller.pause(); // a second pause while held resolves too
    for (const id of ['held-1', 'held-2', 'held-3']) await put(id);
    poller.wake();
    await new Promise((r) => setTimeout(r, 300));
    expect(seen.filter((key) => key.startsWith('TEST#held-'))).toEqual([]);
    poller.resume();
    await poller.caughtUp();
    expect(seen.filter((key) => key.startsWith('TEST#held-'))).toEqual([
      'TEST#held-1',
      'TEST#held-2',
      'TEST#held-3',
    ]);
  });
});
