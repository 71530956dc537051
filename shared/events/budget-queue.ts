import { createHash } from 'node:crypto';
import { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { config } from '../config.ts';
import { budgetInputOf } from '../use-cases/budget-projection.ts';
import type { EventEnvelope } from './envelope.ts';
import type { PublishResult } from './publisher.ts';
import { sizeBatches } from './size-batches.ts';

/** SQS limit: 10 messages per SendMessageBatch. */
const MAX_MESSAGES_PER_SEND = 10;

let client: SQSClient | undefined;

function sqs(): SQSClient {
  if (!client) {
    const { region, sqsEndpoint } = config();
    client = new SQSClient({ region, maxAttempts: 5, ...(sqsEndpoint ? { endpoint: sqsEndpoint } : {}) });
  }
  return client;
}

export function resetSqsClient(): void {
  client = undefined;
}

/** Below SQS's 256 KiB message limit, with room for the attributes. */
const MAX_MESSAGE_BYTES = 200 * 1024;

/**
 * Sends the events that move a budget to the budget queue (SQS FIFO): one message group per
 * subscription, so its projector applies them one batch at a time and in the order sent. A stream
 * batch's events of one subscription travel together in as few messages as fit (a JSON array of
 * envelopes): what queued up is coalesced before it is queued, so a busy subscription costs one
 * projector transaction per stream batch, not one per event. The message's deduplication id is
 * derived from the events it carries, so a re-sent stream batch is dropped within SQS's five
 * minutes (and the projection drops any later duplicate by itself). Returns the events SQS did not
 * take, for the fan-out to retry.
 */
export async function enqueueBudgetInputs(events: readonly EventEnvelope[]): Promise<PublishResult> {
  const bySubscription = new Map<string, EventEnvelope[]>();
  for (const event of events) {
    const mapped = budgetInputOf(event);
    if (mapped)
      bySubscription.set(mapped.subscriptionId, [
        ...(bySubscription.get(mapped.subscriptionId) ?? []),
        event,
      ]);
  }
  const messages = [...bySubscription].flatMap(([group, grouped]) =>
    chunksOf(grouped).map((chunk) => ({ group, events: chunk })),
  );
  const failed: PublishResult['failed'] = [];
  const { budgetQueueUrl } = config();
  for (let i = 0; i < messages.length; i += MAX_MESSAGES_PER_SEND) {
    const batch = messages.slice(i, i + MAX_MESSAGES_PER_SEND);
    try {
      const response = await sqs().send(
        new SendMessageBatchCommand({
          QueueUrl: budgetQueueUrl,
          Entries: batch.map(({ events: carried, group }, index) => ({
            Id: String(index),
            MessageBody: JSON.stringify(carried),
            MessageGroupId: group,
            MessageDeduplicationId: createHash('sha256')
              .update(carried.map((e) => e.id).join(','))
              .digest('hex'),
          })),
        }),
      );
      // Only what SQS says it took was sent: anything else is retried.
      const taken = new Set((response.Successful ?? []).map((entry) => entry.Id));
      const codes = new Map((response.Failed ?? []).map((entry) => [entry.Id, entry.Code ?? 'Unknown']));
      batch.forEach(({ events: carried }, index) => {
        if (taken.has(String(index))) return;
        const errorCode = codes.get(String(index)) ?? 'NotTaken';
        failed.push(...carried.map((event) => ({ event, errorCode })));
      });
    } catch (error) {
      const errorCode = (error as Error).name || 'Error';
      failed.push(...batch.flatMap(({ events: carried }) => carried.map((event) => ({ event, errorCode }))));
    }
  }
  return { failed };
}

/** Consecutive events in messages of at most MAX_MESSAGE_BYTES (a JSON array), order kept. */
const chunksOf = (events: readonly EventEnvelope[]): EventEnvelope[][] =>
  sizeBatches(events, (event) => Buffer.byteLength(JSON.stringify(event)) + 1, {
    maxBytes: MAX_MESSAGE_BYTES,
    overheadBytes: 2,
  });
