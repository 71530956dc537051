import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { describe, expect, it } from 'vitest';
import { handler } from '../../../functions/stream-fanout.ts';
import { useMockedEventBridge } from '../../support/event-bridge-mock.ts';
import { customerItem, streamRecord } from '../../support/stream-records.ts';

const eventBridge = useMockedEventBridge();

describe('stream fan-out handler', () => {
  it('publishes one event per entity record and reports no failures', async () => {
    eventBridge.on(PutEventsCommand).callsFake((input: { Entries: unknown[] }) => ({
      FailedEntryCount: 0,
      Entries: input.Entries.map(() => ({ EventId: 'x' })),
    }));
    const records = [
      streamRecord(customerItem('a')),
      streamRecord({ PK: 'CUSTOMER#a', SK: 'AUDIT#1', item_type: 'audit' }),
      streamRecord(customerItem('b')),
    ];
    expect(await handler({ Records: records })).toEqual({ batchItemFailures: [] });
    const published = eventBridge
      .commandCalls(PutEventsCommand)
      .flatMap((c) => c.args[0].input.Entries ?? []);
    expect(published.map((e) => JSON.parse(e.Detail ?? '{}').entity_id)).toEqual(['a', 'b']);
  });

  it('reports the first record whose event EventBridge kept rejecting, so the stream retries from it', async () => {
    // Entry for record "b" always fails; "a" and "c" succeed.
    eventBridge.on(PutEventsCommand).callsFake((input: { Entries: { Detail: string }[] }) => {
      const results = input.Entries.map((entry) =>
        JSON.parse(entry.Detail).entity_id === 'b' ? { ErrorCode: 'InternalFailure' } : { EventId: 'ok' },
      );
      return { FailedEntryCount: results.filter((r) => 'ErrorCode' in r).length, Entries: results };
    });
    const records = [
      streamRecord(customerItem('a')),
      streamRecord(customerItem('b')),
      streamRecord(customerItem('c')),
    ];
    const response = await handler({ Records: records });
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: records[1]!.dynamodb!.SequenceNumber }]);
  });

  it('a record that cannot be mapped is reported after the records before it are published', async () => {
    eventBridge.on(PutEventsCommand).callsFake((input: { Entries: unknown[] }) => ({
      FailedEntryCount: 0,
      Entries: input.Entries.map(() => ({ EventId: 'x' })),
    }));
    const broken = streamRecord(customerItem('b'));
    (broken.dynamodb!.NewImage as Record<string, unknown>).version = { Z: 'not an attribute type' };
    const records = [streamRecord(customerItem('a')), broken, streamRecord(customerItem('c'))];
    const response = await handler({ Records: records });
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: broken.dynamodb!.SequenceNumber }]);
    const published = eventBridge
      .commandCalls(PutEventsCommand)
      .flatMap((c) => c.args[0].input.Entries ?? []);
    expect(published.map((e) => JSON.parse(e.Detail ?? '{}').entity_id)).toEqual(['a']);
  });
});
