import { PutEventsCommand, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { EventEnvelope } from '../../../shared/events/envelope.ts';
import {
  batchesOf,
  MAX_BYTES_PER_PUT,
  MAX_ENTRIES_PER_PUT,
  publishEvents,
} from '../../../shared/events/publisher.ts';
import { useMockedEventBridge } from '../../support/event-bridge-mock.ts';

const eventBridge = useMockedEventBridge();

const event = (n: number, dataBytes = 10): EventEnvelope => ({
  id: `id-${n}`,
  type: 'customer.created',
  schema_version: 1,
  occurred_at: '2026-11-01T00:00:00.000Z',
  entity_id: `c${n}`,
  entity_version: 1,
  tenant_id: `c${n}`,
  data: { padding: 'x'.repeat(dataBytes) },
});

const detailIds = (entries: PutEventsRequestEntry[] | undefined) =>
  (entries ?? []).map((entry) => (JSON.parse(entry.Detail ?? '{}') as EventEnvelope).id);

describe('publishing events to EventBridge', () => {
  it('batches never exceed 10 entries or 256 KiB and keep every entry in order', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 60_000 }), { maxLength: 60 }), (sizes) => {
        const entries = sizes.map((size, i) => ({
          Source: 's',
          DetailType: 't',
          Detail: `${i}:${'x'.repeat(size)}`,
        }));
        const batches = batchesOf(entries);
        expect(batches.flat()).toEqual(entries);
        for (const batch of batches) {
          expect(batch.length).toBeGreaterThan(0);
          expect(batch.length).toBeLessThanOrEqual(MAX_ENTRIES_PER_PUT);
          const bytes = batch.reduce((sum, e) => sum + Buffer.byteLength(e.Detail ?? '') + 2 + 14, 0);
          if (batch.length > 1) expect(bytes).toBeLessThanOrEqual(MAX_BYTES_PER_PUT);
        }
      }),
    );
  });

  it('retries only the entries EventBridge rejected, until they are accepted', async () => {
    eventBridge
      .on(PutEventsCommand)
      .resolvesOnce({
        FailedEntryCount: 2,
        Entries: [{ EventId: 'a' }, { ErrorCode: 'InternalFailure' }, { ErrorCode: 'ThrottlingException' }],
      })
      .resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'b' }, { EventId: 'c' }] });
    const result = await publishEvents([event(1), event(2), event(3)], { baseDelayMs: 1 });
    expect(result.failed).toEqual([]);
    const calls = eventBridge.commandCalls(PutEventsCommand);
    expect(calls.map((call) => detailIds(call.args[0].input.Entries))).toEqual([
      ['id-1', 'id-2', 'id-3'],
      ['id-2', 'id-3'],
    ]);
    expect(calls[0]!.args[0].input.Entries![0]).toMatchObject({
      Source: 'tcp.billing',
      DetailType: 'customer.created',
      EventBusName: 'billing-test',
    });
  });

  it('reports entries still rejected after the last attempt instead of dropping them', async () => {
    eventBridge
      .on(PutEventsCommand)
      .resolves({ FailedEntryCount: 1, Entries: [{ ErrorCode: 'InternalFailure' }] });
    const result = await publishEvents([event(1)], { maxAttempts: 3, baseDelayMs: 1 });
    expect(result.failed.map((f) => [f.event.id, f.errorCode])).toEqual([['id-1', 'InternalFailure']]);
    expect(eventBridge.commandCalls(PutEventsCommand)).toHaveLength(3);
  });

  it('a throttled call is retried and, if it never succeeds, its events are reported as failed', async () => {
    const throttled = Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
    eventBridge
      .on(PutEventsCommand)
      .rejectsOnce(throttled)
      .resolves({ FailedEntryCount: 0, Entries: [{}, {}] });
    expect((await publishEvents([event(1), event(2)], { baseDelayMs: 1 })).failed).toEqual([]);

    eventBridge.reset();
    eventBridge.on(PutEventsCommand).rejects(throttled);
    const result = await publishEvents([event(1), event(2)], { maxAttempts: 2, baseDelayMs: 1 });
    expect(result.failed.map((f) => f.errorCode)).toEqual(['ThrottlingException', 'ThrottlingException']);
  });

  it('splits more than ten events into several calls', async () => {
    eventBridge.on(PutEventsCommand).callsFake((input: { Entries: unknown[] }) => ({
      FailedEntryCount: 0,
      Entries: input.Entries.map(() => ({ EventId: 'x' })),
    }));
    await publishEvents(Array.from({ length: 23 }, (_, i) => event(i)));
    expect(eventBridge.commandCalls(PutEventsCommand).map((c) => c.args[0].input.Entries?.length)).toEqual([
      10, 10, 3,
    ]);
  });
});
