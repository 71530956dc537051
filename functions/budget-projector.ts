import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { config } from '../shared/config.ts';
import { EventEnvelopeSchema } from '../shared/events/envelope.ts';
import { logger } from '../shared/logger.ts';
import { observedHandler } from '../shared/observability.ts';
import { budgetInputOf, projectBudget } from '../shared/use-cases/budget-projection.ts';

/**
 * The budget queue's consumer (SQS FIFO, one message group per subscription): applies each
 * subscription's events of the batch, in order and all at once, to its budget projection. The
 * projection's stream record then publishes `budget.updated`. A subscription whose batch failed
 * reports all of its messages, so SQS delivers them again in the same order; other subscriptions'
 * are done.
 */
export const handler = observedHandler(async (event: SQSEvent): Promise<SQSBatchResponse> => {
  const groups = new Map<string, SQSRecord[]>();
  for (const record of event.Records) {
    const group = record.attributes.MessageGroupId ?? record.messageId;
    groups.set(group, [...(groups.get(group) ?? []), record]);
  }
  const failures: string[] = [];
  for (const [subscriptionId, records] of groups) {
    try {
      // A message carries one stream batch's events of the subscription (an array), or one event.
      const inputs = records.flatMap((record) => {
        const body: unknown = JSON.parse(record.body);
        return (Array.isArray(body) ? body : [body]).flatMap((event) => {
          const mapped = budgetInputOf(EventEnvelopeSchema.parse(event));
          return mapped ? [mapped.input] : [];
        });
      });
      if (inputs.length > 0) {
        // Never before the events it applies (the local clock can run ahead of the machine's).
        const latest = Math.max(Date.now(), ...inputs.map((input) => Date.parse(input.at)));
        await projectBudget(config().tableName, subscriptionId, inputs, new Date(latest));
      }
    } catch (error) {
      logger.error('budget projection failed', { subscriptionId, error: error as Error });
      failures.push(...records.map((record) => record.messageId));
    }
  }
  return { batchItemFailures: failures.map((itemIdentifier) => ({ itemIdentifier })) };
});
