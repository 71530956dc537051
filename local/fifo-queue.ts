import { createHash, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { listenOnLoopback } from './ports.ts';

/**
 * A local SQS FIFO queue with its Lambda event source mapping: it answers the SendMessage and
 * SendMessageBatch calls the real SDK client makes (AWS JSON protocol), and keeps the promises the
 * budget projector relies on, as SQS does:
 * - messages of one group are delivered in the order sent, one batch (up to 10) at a time, and a
 *   group's next batch waits until the previous one is done; groups run independently;
 * - a message reported as failed is delivered again, with the ones after it, until it has been
 *   received `maxReceiveCount` times; then it goes to the dead-letter list (the DLQ), and the group
 *   goes on;
 * - a deduplication id seen in the last five minutes is accepted and not delivered again.
 * It holds messages in memory: the stream poller checkpoints only once the queue is idle
 * (stream-poller.ts), so a kill loses nothing the stream does not deliver again.
 */
export type QueueMessage = { id: string; body: string; group: string; receives: number; sentAt: string };

export type LocalFifoQueue = {
  endpoint: string;
  url: string;
  deadLetters: () => QueueMessage[];
  /** Sends every dead letter back to its group (SQS's DLQ redrive), with a fresh receive count. */
  redrive: () => Promise<{ redriven: number; still_dead: number }>;
  /** Resolves when every accepted message has been processed or dead-lettered. */
  idle: () => Promise<void>;
  stop: () => Promise<void>;
};

export type LocalFifoQueueOptions = {
  name: string;
  consume: (event: SQSEvent) => Promise<SQSBatchResponse | undefined>;
  batchSize?: number;
  maxReceiveCount?: number;
  retryDelayMs?: number;
  restoredDeadLetters?: QueueMessage[];
  onDeadLettersChanged?: () => void;
};

const DEDUPLICATION_WINDOW_MS = 5 * 60_000;

type SendEntry = {
  Id?: string;
  MessageBody?: string;
  MessageGroupId?: string;
  MessageDeduplicationId?: string;
};

export async function startLocalFifoQueue(options: LocalFifoQueueOptions): Promise<LocalFifoQueue> {
  const { name, batchSize = 10, maxReceiveCount = 5, retryDelayMs = 100 } = options;
  const groups = new Map<string, QueueMessage[]>();
  const running = new Map<string, Promise<void>>();
  const seen = new Map<string, number>();
  const dead: QueueMessage[] = [...(options.restoredDeadLetters ?? [])];
  const waiters: (() => void)[] = [];

  const settle = () => {
    if (running.size > 0) return;
    for (const done of waiters.splice(0)) done();
  };

  const drain = async (group: string) => {
    // Let the rest of the send that woke the group arrive first: its messages share a batch.
    await new Promise((resolve) => setImmediate(resolve));
    for (;;) {
      const pending = groups.get(group) ?? [];
      if (pending.length === 0) {
        groups.delete(group);
        return;
      }
      const batch = pending.slice(0, batchSize);
      for (const message of batch) message.receives++;
      let failed: Set<string>;
      try {
        const response = await options.consume({ Records: batch.map((m) => toRecord(m, name)) });
        failed = new Set((response?.batchItemFailures ?? []).map((f) => f.itemIdentifier));
      } catch {
        failed = new Set(batch.map((m) => m.id)); // a throw fails the whole batch
      }
      // Done messages leave the group; failed ones stay at its front, in order; messages sent while
      // the batch ran are behind them (the group's list is read again: sends replace it).
      const kept = (groups.get(group) ?? []).filter((m) => !batch.includes(m) || failed.has(m.id));
      const exhausted = kept.filter((m) => failed.has(m.id) && m.receives >= maxReceiveCount);
      if (exhausted.length > 0) {
        dead.unshift(...exhausted);
        options.onDeadLettersChanged?.();
      }
      groups.set(
        group,
        kept.filter((m) => !exhausted.includes(m)),
      );
      if (failed.size > exhausted.length) await new Promise((resolve) => setTimeout(resolve, retryDelayMs));
    }
  };

  const schedule = (group: string) => {
    if (running.has(group)) return;
    const run = drain(group).finally(() => {
      running.delete(group);
      // Messages may have arrived while the last batch ran.
      if (groups.has(group)) schedule(group);
      settle();
    });
    running.set(group, run);
  };

  const accept = (entry: SendEntry, now: number) => {
    if (!entry.MessageBody || !entry.MessageGroupId) {
      return {
        error: {
          Id: entry.Id,
          Code: 'MissingParameter',
          SenderFault: true,
          Message: 'MessageBody and MessageGroupId are required',
        },
      };
    }
    const dedup =
      entry.MessageDeduplicationId ?? createHash('sha256').update(entry.MessageBody).digest('hex');
    // Entries expire in the order they were added (one window for all): stop at the first still live.
    for (const [id, until] of seen) {
      if (until >= now) break;
      seen.delete(id);
    }
    const id = randomUUID();
    if (!seen.has(dedup)) {
      seen.set(dedup, now + DEDUPLICATION_WINDOW_MS);
      const message: QueueMessage = {
        id,
        body: entry.MessageBody,
        group: entry.MessageGroupId,
        receives: 0,
        sentAt: new Date(now).toISOString(),
      };
      groups.set(message.group, [...(groups.get(message.group) ?? []), message]);
      schedule(message.group);
    }
    return {
      ok: {
        Id: entry.Id,
        MessageId: id,
        MD5OfMessageBody: createHash('md5').update(entry.MessageBody).digest('hex'),
        SequenceNumber: String(now),
      },
    };
  };

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const operation = String(req.headers['x-amz-target'] ?? '');
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as SendEntry & {
        Entries?: SendEntry[];
      };
      res.setHeader('content-type', 'application/x-amz-json-1.0');
      const now = Date.now();
      if (operation === 'AmazonSQS.SendMessageBatch') {
        const results = (body.Entries ?? []).map((entry) => accept(entry, now));
        res.end(
          JSON.stringify({
            Successful: results.flatMap((r) => (r.ok ? [r.ok] : [])),
            Failed: results.flatMap((r) => (r.error ? [r.error] : [])),
          }),
        );
        return;
      }
      if (operation === 'AmazonSQS.SendMessage') {
        const result = accept(body, now);
        if (result.error) {
          res.statusCode = 400;
          res.end(
            JSON.stringify({ __type: 'com.amazonaws.sqs#MissingParameter', message: result.error.Message }),
          );
          return;
        }
        res.end(JSON.stringify(result.ok));
        return;
      }
      res.statusCode = 400;
      res.end(
        JSON.stringify({
          __type: 'com.amazonaws.sqs#UnsupportedOperation',
          message: `${operation} is not served locally`,
        }),
      );
    });
  });
  const endpoint = await listenOnLoopback(server);

  return {
    endpoint,
    url: `${endpoint}/000000000000/${name}`,
    deadLetters: () => dead,
    redrive: async () => {
      const parked = dead.splice(0, dead.length).reverse();
      for (const message of parked) {
        message.receives = 0;
        groups.set(message.group, [...(groups.get(message.group) ?? []), message]);
        schedule(message.group);
      }
      await new Promise<void>((done) => {
        waiters.push(done);
        settle();
      });
      options.onDeadLettersChanged?.();
      return { redriven: parked.length - dead.length, still_dead: dead.length };
    },
    idle: () =>
      new Promise<void>((done) => {
        waiters.push(done);
        settle();
      }),
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

function toRecord(message: QueueMessage, queueName: string): SQSRecord {
  return {
    messageId: message.id,
    receiptHandle: message.id,
    body: message.body,
    attributes: {
      ApproximateReceiveCount: String(message.receives),
      SentTimestamp: String(Date.parse(message.sentAt)),
      SenderId: 'local',
      ApproximateFirstReceiveTimestamp: String(Date.now()),
      MessageGroupId: message.group,
    },
    messageAttributes: {},
    md5OfBody: createHash('md5').update(message.body).digest('hex'),
    eventSource: 'aws:sqs',
    eventSourceARN: `arn:aws:sqs:local:000000000000:${queueName}`,
    awsRegion: 'local',
  };
}
