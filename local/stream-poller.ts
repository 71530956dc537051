import { DescribeTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  GetRecordsCommand,
  type GetRecordsCommandOutput,
  GetShardIteratorCommand,
} from '@aws-sdk/client-dynamodb-streams';
import type { DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { toLambdaRecord } from '../shared/events/stream-records.ts';
import { readJsonFile, writeFileAtomic } from './atomic-file.ts';
import { LOCAL_AWS } from './dynamodb-local.ts';

/**
 * Plays the part of Lambda's DynamoDB event source mapping: reads the table's stream shard by
 * shard, in order, hands batches to the fan-out handler, honours `batchItemFailures` (records before
 * the reported one are done), retries, then parks the failing record in a dead-letter list, the way
 * the CDK mapping (bisect on error, bounded retries, on-failure destination) does in AWS.
 *
 * Its checkpoint moves as the mapping's does: only after the batch's work is done. In AWS that is
 * when the handler returned (what it put on EventBridge is durable there); locally the bus keeps
 * events in memory, so the checkpoint also waits until every event the batch published was delivered
 * or dead-lettered (`delivered`). A kill before that re-reads the records, and the fan-out publishes
 * them again: at least once, as in AWS, never lost. The checkpoint file is replaced atomically.
 *
 * Idle, it backs off: after an empty pass it waits `idleDelayMs`, twice that after the next, up to
 * `maxIdleDelayMs`, so a quiet service costs a GetRecords every two seconds instead of a hundred a
 * second. `wake()` cuts the wait short and starts the backoff again: the local runtime calls it after
 * every write its DynamoDB clients make (local/write-signal.ts), and `caughtUp()` calls it, so a write is read within
 * milliseconds however long the service was idle; a write from outside the process waits at most
 * `maxIdleDelayMs`.
 */
export type StreamPollerOptions = {
  client: DynamoDBClient;
  endpoint: string;
  tableName: string;
  handler: (event: DynamoDBStreamEvent) => Promise<DynamoDBBatchResponse | undefined>;
  batchSize?: number;
  maxRetries?: number;
  idleDelayMs?: number;
  maxIdleDelayMs?: number;
  /** Where the last processed sequence number per shard is kept, so a restart resumes. */
  checkpointFile?: string | undefined;
  /** Resolves once every event the handler published so far was delivered or dead-lettered. */
  delivered?: () => Promise<void>;
  onDeadLetter?: (record: DynamoDBRecord, reason: string) => void;
};

export type StreamPoller = {
  stop: () => Promise<void>;
  /** Resolves after a pass that began after the call read nothing new. */
  caughtUp: () => Promise<void>;
  /** Something was written: poll now, and quickly again for a while. */
  wake: () => void;
  /**
   * Stops reading the stream once the pass under way is done (its batches delivered and
   * checkpointed): resolves then. Records written meanwhile wait in the stream, as they would behind
   * a disabled event source mapping, until `resume` (so does `caughtUp`).
   */
  pause: () => Promise<void>;
  resume: () => void;
};

type ShardState = { iterator: string | undefined; done: boolean; failures: number; limit: number };
type Checkpoints = { streamArn: string; shards: Record<string, string> };

export async function startStreamPoller(options: StreamPollerOptions): Promise<StreamPoller> {
  const { client, endpoint, tableName, handler, batchSize = 100, maxRetries = 5 } = options;
  const { idleDelayMs = 10, maxIdleDelayMs = 2000 } = options;
  const streams = new DynamoDBStreamsClient({ ...LOCAL_AWS, endpoint });
  const table = await client.send(new DescribeTableCommand({ TableName: tableName }));
  const streamArn = table.Table?.LatestStreamArn;
  if (!streamArn) throw new Error(`Table ${tableName} has no stream`);
  const checkpoints = loadCheckpoints(options.checkpointFile, streamArn);
  const shards = new Map<string, ShardState>();
  let running = true;
  let pass = 0;
  let waiters: { afterPass: number; wake: () => void }[] = [];
  let idleDelay = idleDelayMs;
  let endSleep: (() => void) | undefined;
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      if (!running) return resolve();
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        endSleep = undefined;
        resolve();
      }
      endSleep = done;
    });
  const wake = () => {
    idleDelay = idleDelayMs;
    endSleep?.();
  };
  /** While paused: what the loop waits on, and whom it tells it has stopped. */
  let hold:
    | { released: Promise<void>; release: () => void; stopped: boolean; parked: (() => void)[] }
    | undefined;

  const saveCheckpoint = async (shardId: string, sequenceNumber: string) => {
    await options.delivered?.();
    checkpoints.shards[shardId] = sequenceNumber;
    if (options.checkpointFile) writeFileAtomic(options.checkpointFile, JSON.stringify(checkpoints));
  };

  const iteratorFor = async (shardId: string, at?: string) => {
    const after = checkpoints.shards[shardId];
    const { ShardIterator } = await streams.send(
      new GetShardIteratorCommand({
        StreamArn: streamArn,
        ShardId: shardId,
        ...(at
          ? { ShardIteratorType: 'AT_SEQUENCE_NUMBER', SequenceNumber: at }
          : after
            ? { ShardIteratorType: 'AFTER_SEQUENCE_NUMBER', SequenceNumber: after }
            : { ShardIteratorType: 'TRIM_HORIZON' }),
      }),
    );
    return ShardIterator;
  };

  /** One GetRecords + handler call for a shard; returns how many records were read. */
  const pollShard = async (shardId: string, state: ShardState): Promise<number> => {
    state.iterator ??= await iteratorFor(shardId);
    if (!state.iterator) {
      state.done = true;
      return 0;
    }
    let page: GetRecordsCommandOutput;
    try {
      page = await streams.send(new GetRecordsCommand({ ShardIterator: state.iterator, Limit: state.limit }));
    } catch (error) {
      // An expired or trimmed iterator: start again from the checkpoint rather than retrying it forever.
      state.iterator = undefined;
      throw error;
    }
    const { Records = [], NextShardIterator } = page;
    if (Records.length === 0) {
      state.iterator = NextShardIterator;
      if (!NextShardIterator) state.done = true;
      return 0;
    }
    const records = Records.map((record) => toLambdaRecord(record, streamArn));
    let failedAt: string | undefined;
    let reason = '';
    try {
      const response = await handler({ Records: records });
      failedAt = response?.batchItemFailures?.[0]?.itemIdentifier;
      reason = 'reported as a batch item failure';
    } catch (error) {
      // A thrown batch fails as a whole; like the event source mapping's bisect-on-error, the next
      // try takes half as many records, down to the single record that keeps failing.
      failedAt = records[0]?.dynamodb?.SequenceNumber;
      reason = (error as Error).message;
      state.limit = Math.max(1, Math.floor(records.length / 2));
    }
    const failedIndex =
      failedAt === undefined ? -1 : records.findIndex((r) => r.dynamodb?.SequenceNumber === failedAt);
    if (failedIndex === -1) {
      await saveCheckpoint(shardId, records[records.length - 1]!.dynamodb!.SequenceNumber!);
      state.iterator = NextShardIterator;
      state.failures = 0;
      state.limit = batchSize;
      return records.length;
    }
    if (failedIndex > 0) {
      // Progress: the records before the failure are done, and the failing one gets its own retries.
      await saveCheckpoint(shardId, records[failedIndex - 1]!.dynamodb!.SequenceNumber!);
      state.failures = 0;
    }
    state.failures++;
    if (state.failures > maxRetries) {
      // Retries exhausted: like the on-failure destination, park the record and move past it.
      options.onDeadLetter?.(records[failedIndex]!, reason);
      await saveCheckpoint(shardId, failedAt!);
      state.failures = 0;
      state.limit = batchSize;
      state.iterator = await iteratorFor(shardId);
    } else {
      await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 50 * 2 ** state.failures)));
      state.iterator = await iteratorFor(shardId, failedAt);
    }
    return records.length;
  };

  const refreshShards = async () => {
    const { StreamDescription } = await streams.send(new DescribeStreamCommand({ StreamArn: streamArn }));
    for (const shard of StreamDescription?.Shards ?? []) {
      if (!shard.ShardId || shards.has(shard.ShardId)) continue;
      shards.set(shard.ShardId, { iterator: undefined, done: false, failures: 0, limit: batchSize });
    }
  };

  const loop = async () => {
    let sinceRefresh = Number.POSITIVE_INFINITY;
    while (running) {
      if (hold) {
        hold.stopped = true;
        for (const parked of hold.parked.splice(0)) parked();
        await hold.released;
        continue;
      }
      const thisPass = ++pass;
      try {
        if (sinceRefresh > 20) {
          await refreshShards();
          sinceRefresh = 0;
        }
        sinceRefresh++;
        let read = 0;
        // Shards are visited in creation order, so a parent is drained before its children.
        for (const [shardId, state] of shards) {
          if (!state.done) read += await pollShard(shardId, state);
        }
        if (read === 0) {
          // Only a pass that began after the caller asked proves it saw the caller's writes.
          for (const waiter of waiters.filter((w) => w.afterPass < thisPass)) waiter.wake();
          waiters = waiters.filter((w) => w.afterPass >= thisPass);
          const delay = waiters.length > 0 ? idleDelayMs : idleDelay;
          idleDelay = Math.min(maxIdleDelayMs, idleDelay * 2);
          await sleep(delay);
        } else {
          idleDelay = idleDelayMs;
        }
      } catch (error) {
        if (!running) break;
        console.error('[stream] poll failed, retrying:', (error as Error).message);
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
  };
  const loopDone = loop();

  return {
    stop: async () => {
      running = false;
      hold?.release();
      endSleep?.();
      await loopDone;
      streams.destroy();
    },
    caughtUp: () =>
      new Promise<void>((resolve) => {
        waiters.push({ afterPass: pass, wake: resolve });
        wake();
      }),
    wake,
    pause: () => {
      if (!hold) {
        let release = () => {};
        const released = new Promise<void>((resolve) => {
          release = resolve;
        });
        hold = { released, release, stopped: false, parked: [] };
      }
      const paused = hold;
      return new Promise<void>((resolve) => {
        if (paused.stopped || !running) return resolve();
        paused.parked.push(resolve);
        endSleep?.();
      });
    },
    resume: () => {
      const released = hold;
      hold = undefined;
      released?.release();
      for (const parked of released?.parked.splice(0) ?? []) parked();
    },
  };
}

function loadCheckpoints(file: string | undefined, streamArn: string): Checkpoints {
  let saved: Checkpoints | undefined;
  try {
    saved = file ? readJsonFile<Checkpoints>(file) : undefined;
  } catch {
    // Not JSON (a file from before writes were atomic, cut by a kill): reading the stream again from
    // its start is safe (every event is applied by version), losing the checkpoint is not.
    console.error(`[stream] ${file} is unreadable; reading the table's stream again from its start`);
  }
  // A recreated table has a new stream: old checkpoints mean nothing for it.
  if (saved && saved.streamArn === streamArn && typeof saved.shards === 'object') return saved;
  return { streamArn, shards: {} };
}
