import { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { config } from '../config.ts';
import { budgetInputOf } from '../use-cases/budget-projection.ts';
import type { EventEnvelope } from './envelope.ts';
import type { PublishResult } from './publisher.ts';

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

/**
 * Sends the events that move a budget to the budget queue (SQS FIFO): one message group per
 * subscription, so its projector applies them one batch at a time and in the order sent; the event
 * id deduplicates a re-sent stream batch within SQS's five minutes (and the projection drops any
 * later duplicate by itself). Returns the events SQS did not take, for the fan-out to retry.
 */
export async function enqueueBudgetInputs(events: readonly EventEnvelope[]): Promise<PublishResult> {
  const messages = events.flatMap((event) => {
    const mapped = budgetInputOf(event);
    return mapped ? [{ event, group: mapped.subscriptionId }] : [];
  });
  const failed: PublishResult['failed'] = [];
  const { budgetQueueUrl } = config();
  for (let i = 0; i < messages.length; i += MAX_MESSAGES_PER_SEND) {
    const batch = messages.slice(i, i + MAX_MESSAGES_PER_SEND);
    try {
      const response = await sqs().send(
        new SendMessageBatchCommand({
          QueueUrl: budgetQueueUrl,
          Entries: batch.map(({ event, group }, index) => ({
            Id: String(index),
            MessageBody: JSON.stringify(event),
            MessageGroupId: group,
            MessageDeduplicationId: event.id,
          })),
        }),
      );
      // Only what SQS says it took was sent: anything else is retried.
      const taken = new Set((response.Successful ?? []).map((entry) => entry.Id));
      const codes = new Map((response.Failed ?? []).map((entry) => [entry.Id, entry.Code ?? 'Unknown']));
      batch.forEach(({ event }, index) => {
        if (!taken.has(String(index)))
          failed.push({ event, errorCode: codes.get(String(index)) ?? 'NotTaken' });
      });
    } catch (error) {
      failed.push(...batch.map(({ event }) => ({ event, errorCode: (error as Error).name || 'Error' })));
    }
  }
  return { failed };
}
