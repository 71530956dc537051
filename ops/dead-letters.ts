import {
  type DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
} from '@aws-sdk/client-dynamodb-streams';
import { type EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { DeleteMessageCommand, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { toLambdaRecord } from '../shared/events/stream-records.ts';

/**
 * The redrive of the two dead-letter queues (infra/README.md, "Dead letters and redrive"):
 * - the sync DLQ holds events (as EventBridge sends them to a target DLQ, or inside a Lambda
 *   on-failure record's `requestPayload`): each is put on the bus again, and the rule delivers it;
 * - the stream DLQ holds descriptions of stream batches (shard and sequence-number range): the
 *   records are read back from the stream (retention 24 h) and given to the fan-out handler again.
 * A message is deleted only once its content went through; anything else stays for the next run.
 * Re-delivery is safe: event ids derive from the records, and consumers drop versions they have.
 */
export type BusEvent = { source: string; detailType: string; detail: unknown; time: string | undefined };

export type StreamBatch = {
  streamArn: string;
  shardId: string;
  startSequenceNumber: string;
  endSequenceNumber: string;
};

export type DeadLetter =
  | { kind: 'event'; event: BusEvent }
  | { kind: 'stream-batch'; batch: StreamBatch }
  | { kind: 'unreadable'; reason: string };

export function parseDeadLetter(body: string): DeadLetter {
  let message: unknown;
  try {
    message = JSON.parse(body);
  } catch {
    return { kind: 'unreadable', reason: 'the message body is not JSON' };
  }
  if (!isObject(message)) return { kind: 'unreadable', reason: 'the message body is not a JSON object' };
  const batch = message.DDBStreamBatchInfo;
  if (isObject(batch)) {
    const { streamArn, shardId, startSequenceNumber, endSequenceNumber } = batch;
    if ([streamArn, shardId, startSequenceNumber, endSequenceNumber].every((v) => typeof v === 'string')) {
      return {
        kind: 'stream-batch',
        batch: {
          streamArn: streamArn as string,
          shardId: shardId as string,
          startSequenceNumber: startSequenceNumber as string,
          endSequenceNumber: endSequenceNumber as string,
        },
      };
    }
    return { kind: 'unreadable', reason: 'DDBStreamBatchInfo lacks the stream, shard or sequence numbers' };
  }
  // A Lambda on-failure record wraps the event the function kept failing on.
  const event = isObject(message.requestPayload) ? message.requestPayload : message;
  if (typeof event.source === 'string' && typeof event['detail-type'] === 'string' && 'detail' in event) {
    return {
      kind: 'event',
      event: {
        source: event.source,
        detailType: event['detail-type'],
        detail: event.detail,
        time: typeof event.time === 'string' ? event.time : undefined,
      },
    };
  }
  return { kind: 'unreadable', reason: 'neither an EventBridge event nor a stream batch description' };
}

export type RedriveReport = { redriven: number; failed: number; unreadable: number; errors: string[] };

/**
 * Drains `queueUrl`: each message is parsed and handed to `redrive`; true deletes it. Messages that
 * fail stay invisible for `visibilitySeconds`, so one run sees each message once.
 */
export async function redriveQueue(options: {
  sqs: SQSClient;
  queueUrl: string;
  redrive: (letter: Exclude<DeadLetter, { kind: 'unreadable' }>) => Promise<void>;
  dryRun?: boolean;
  visibilitySeconds?: number;
}): Promise<RedriveReport> {
  const report: RedriveReport = { redriven: 0, failed: 0, unreadable: 0, errors: [] };
  // A message seen again (its visibility timeout ran out during a long run, or a dry run left it)
  // means the queue has been gone through once: stop rather than count it twice.
  const seen = new Set<string>();
  for (;;) {
    const { Messages = [] } = await options.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: options.queueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 1,
        VisibilityTimeout: options.visibilitySeconds ?? 120,
      }),
    );
    if (Messages.length === 0) return report;
    const fresh = Messages.filter((message) => !seen.has(message.MessageId ?? ''));
    if (fresh.length === 0) return report;
    for (const message of fresh) {
      seen.add(message.MessageId ?? '');
      const letter = parseDeadLetter(message.Body ?? '');
      if (letter.kind === 'unreadable') {
        report.unreadable++;
        report.errors.push(`${message.MessageId}: ${letter.reason}`);
        continue;
      }
      if (options.dryRun) {
        report.redriven++;
        continue;
      }
      try {
        await options.redrive(letter);
        await options.sqs.send(
          new DeleteMessageCommand({ QueueUrl: options.queueUrl, ReceiptHandle: message.ReceiptHandle }),
        );
        report.redriven++;
      } catch (error) {
        report.failed++;
        report.errors.push(`${message.MessageId}: ${(error as Error).message}`);
      }
    }
  }
}

/** Puts a dead-lettered event back on the bus; the rule delivers it to the sync again. */
export async function putBack(
  eventBridge: EventBridgeClient,
  busName: string,
  event: BusEvent,
): Promise<void> {
  const { FailedEntryCount, Entries } = await eventBridge.send(
    new PutEventsCommand({
      Entries: [
        {
          Source: event.source,
          DetailType: event.detailType,
          Detail: JSON.stringify(event.detail),
          EventBusName: busName,
          ...(event.time ? { Time: new Date(event.time) } : {}),
        },
      ],
    }),
  );
  if (FailedEntryCount)
    throw new Error(`PutEvents refused the event: ${Entries?.[0]?.ErrorCode ?? 'unknown'}`);
}

/** The stream records of a parked batch, read back from the stream, in order. */
export async function readStreamBatch(
  streams: DynamoDBStreamsClient,
  batch: StreamBatch,
): Promise<DynamoDBRecord[]> {
  const { ShardIterator } = await streams.send(
    new GetShardIteratorCommand({
      StreamArn: batch.streamArn,
      ShardId: batch.shardId,
      ShardIteratorType: 'AT_SEQUENCE_NUMBER',
      SequenceNumber: batch.startSequenceNumber,
    }),
  );
  const end = BigInt(batch.endSequenceNumber);
  const records: DynamoDBRecord[] = [];
  let iterator = ShardIterator;
  // An open shard answers empty pages while nothing newer exists; a few in a row means the end.
  for (let emptyPages = 0; iterator && emptyPages < 3; ) {
    const page = await streams.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 1000 }));
    iterator = page.NextShardIterator;
    const fresh = page.Records ?? [];
    emptyPages = fresh.length === 0 ? emptyPages + 1 : 0;
    for (const record of fresh) {
      if (BigInt(record.dynamodb?.SequenceNumber ?? '0') > end) return records;
      records.push(toLambdaRecord(record, batch.streamArn));
    }
  }
  return records;
}

/** Gives a parked batch's records to the fan-out handler again; throws unless all were published. */
export async function republishStreamBatch(
  streams: DynamoDBStreamsClient,
  batch: StreamBatch,
  fanout: (event: DynamoDBStreamEvent) => Promise<DynamoDBBatchResponse>,
): Promise<number> {
  const records = await readStreamBatch(streams, batch);
  if (records.length === 0) {
    throw new Error(
      `no records between ${batch.startSequenceNumber} and ${batch.endSequenceNumber}: past the stream's 24 h retention?`,
    );
  }
  const { batchItemFailures } = await fanout({ Records: records });
  if (batchItemFailures.length > 0) {
    throw new Error(`the fan-out still fails from record ${batchItemFailures[0]?.itemIdentifier}`);
  }
  return records.length;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
