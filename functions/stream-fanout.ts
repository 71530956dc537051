import type { DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { enqueueBudgetInputs } from '../shared/events/budget-queue.ts';
import type { EventEnvelope } from '../shared/events/envelope.ts';
import { publishEvents } from '../shared/events/publisher.ts';
import { coalesceStateEvents, eventsFromStreamRecord } from '../shared/events/stream-mapping.ts';
import { logger } from '../shared/logger.ts';
import { count, METRIC, observedHandler } from '../shared/observability.ts';

/**
 * Table stream → typed events → EventBridge. Reports the first record whose events could not be
 * mapped or published, so the event source mapping retries from there (bisecting, then parking the
 * record in the DLQ); every record before it has been published. Re-publishing later records on a
 * retry is safe: event ids are derived from the record, and consumers drop what they have seen.
 */
export const handler = observedHandler(fanOut);

async function fanOut(event: DynamoDBStreamEvent): Promise<DynamoDBBatchResponse> {
  const mapped: { sequenceNumber: string; events: EventEnvelope[] }[] = [];
  let unmappable: string | undefined;
  for (const record of event.Records) {
    const sequenceNumber = record.dynamodb?.SequenceNumber ?? '';
    try {
      mapped.push({ sequenceNumber, events: eventsFromStreamRecord(record) });
    } catch (error) {
      logger.error('stream record could not be mapped', { sequenceNumber, error: error as Error });
      unmappable = sequenceNumber;
      break;
    }
  }
  const events = coalesceStateEvents(mapped.flatMap((m) => m.events));
  // Budget inputs go to the budget queue as well: its projector is the one writer of each budget.
  const [published, enqueued] = await Promise.all([publishEvents(events), enqueueBudgetInputs(events)]);
  const failed = [...published.failed, ...enqueued.failed];
  count(METRIC.streamRecords, event.Records.length);
  count(METRIC.streamRecordsUnmappable, unmappable === undefined ? 0 : 1);
  count(METRIC.eventsPublished, events.length - published.failed.length);
  count(METRIC.eventsNotPublished, failed.length);
  // A coalesced event stands for every record of its entity: the first of them is the one to retry from.
  const failedEntities = new Set(failed.map((f) => f.event.entity_id));
  const firstUnpublished = mapped.find((m) =>
    m.events.some((e) => failedEntities.has(e.entity_id)),
  )?.sequenceNumber;
  if (failed.length > 0) {
    logger.error('events not published', {
      failed: failed.map((f) => ({ id: f.event.id, code: f.errorCode })),
    });
  }
  const firstFailure = firstUnpublished ?? unmappable;
  return { batchItemFailures: firstFailure === undefined ? [] : [{ itemIdentifier: firstFailure }] };
}
