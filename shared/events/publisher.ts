import {
  EventBridgeClient,
  PutEventsCommand,
  type PutEventsCommandOutput,
  type PutEventsRequestEntry,
} from '@aws-sdk/client-eventbridge';
import { config } from '../config.ts';
import { logger } from '../logger.ts';
import type { EventEnvelope } from './envelope.ts';
import { BILLING_EVENT_SOURCE } from './rules.ts';
import { sizeBatches } from './size-batches.ts';

/** EventBridge limits: 10 entries and 256 KiB per PutEvents call. */
export const MAX_ENTRIES_PER_PUT = 10;
export const MAX_BYTES_PER_PUT = 256 * 1024;

export type PublishOptions = {
  /** Attempts for entries EventBridge reports as failed, the first included. */
  maxAttempts?: number;
  /** Base delay between attempts; doubles each time, with jitter. */
  baseDelayMs?: number;
};

export type PublishResult = { failed: { event: EventEnvelope; errorCode: string }[] };

let client: EventBridgeClient | undefined;

export function eventBridge(): EventBridgeClient {
  if (!client) {
    const { region, eventBridgeEndpoint } = config();
    // The SDK's standard retry mode already retries throttled and 5xx calls as a whole.
    client = new EventBridgeClient({
      region,
      maxAttempts: 5,
      ...(eventBridgeEndpoint ? { endpoint: eventBridgeEndpoint } : {}),
    });
  }
  return client;
}

export function resetEventBridgeClient(): void {
  client = undefined;
}

export function toEntry(event: EventEnvelope, eventBusName: string): PutEventsRequestEntry {
  return {
    Source: BILLING_EVENT_SOURCE,
    DetailType: event.type,
    Detail: JSON.stringify(event),
    EventBusName: eventBusName,
    Time: new Date(event.occurred_at),
    Resources: [],
  };
}

/** Splits entries into PutEvents calls that respect both the count and the size limit. */
export function batchesOf(entries: PutEventsRequestEntry[]): PutEventsRequestEntry[][] {
  return sizeBatches(entries, entrySize, { maxBytes: MAX_BYTES_PER_PUT, maxCount: MAX_ENTRIES_PER_PUT });
}

/** EventBridge's documented entry size: Source, DetailType, Detail, resources and 14 bytes for Time. */
function entrySize(entry: PutEventsRequestEntry): number {
  return (
    Buffer.byteLength(entry.Source ?? '') +
    Buffer.byteLength(entry.DetailType ?? '') +
    Buffer.byteLength(entry.Detail ?? '') +
    (entry.Resources ?? []).reduce((sum, resource) => sum + Buffer.byteLength(resource), 0) +
    14
  );
}

/**
 * Publishes events, retrying only the entries EventBridge rejected. Returns those that still
 * failed after the last attempt, so the caller can report them as stream batch item failures.
 */
export async function publishEvents(
  events: EventEnvelope[],
  options: PublishOptions = {},
): Promise<PublishResult> {
  const { maxAttempts = 4, baseDelayMs = 100 } = options;
  const { eventBusName } = config();
  const byEntry = new Map<PutEventsRequestEntry, EventEnvelope>();
  const entries = events.map((event) => {
    const entry = toEntry(event, eventBusName);
    byEntry.set(entry, event);
    return entry;
  });
  const failed: PublishResult['failed'] = [];
  for (const batch of batchesOf(entries)) {
    let pending = batch;
    let lastErrors = new Map<PutEventsRequestEntry, string>();
    for (let attempt = 1; attempt <= maxAttempts && pending.length > 0; attempt++) {
      if (attempt > 1) await sleep(baseDelayMs * 2 ** (attempt - 2) * (0.5 + Math.random()));
      let response: PutEventsCommandOutput;
      try {
        response = await eventBridge().send(new PutEventsCommand({ Entries: pending }));
      } catch (error) {
        // The whole call failed even after the SDK's own retries (throttling, 5xx, network).
        lastErrors = new Map(pending.map((entry) => [entry, (error as Error).name || 'Error']));
        logger.warn('PutEvents call failed', { attempt, entries: pending.length, error: error as Error });
        continue;
      }
      if (!response.FailedEntryCount) {
        pending = [];
        break;
      }
      // Result entries are positional: the i-th result answers the i-th request entry.
      lastErrors = new Map();
      const retry: PutEventsRequestEntry[] = [];
      (response.Entries ?? []).forEach((result, index) => {
        const entry = pending[index];
        if (entry && result.ErrorCode) {
          retry.push(entry);
          lastErrors.set(entry, result.ErrorCode);
        }
      });
      logger.warn('PutEvents rejected entries', { attempt, failed: retry.length, of: pending.length });
      pending = retry;
    }
    for (const entry of pending) {
      failed.push({ event: byEntry.get(entry)!, errorCode: lastErrors.get(entry) ?? 'Unknown' });
    }
  }
  return { failed };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
