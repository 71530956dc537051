import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { handler as openapi } from '../../functions/openapi.ts';
import { handler as fanout } from '../../functions/stream-fanout.ts';
import { count, METRIC, metrics, tracer } from '../../shared/observability.ts';
import { useMockedEventBridge } from '../support/event-bridge-mock.ts';
import { customerItem, streamRecord } from '../support/stream-records.ts';

const eventBridge = useMockedEventBridge();

afterEach(() => {
  vi.restoreAllMocks();
});

describe('observability', () => {
  it('prints no metrics and traces nothing under test (POWERTOOLS_* in vitest.config.ts)', () => {
    const write = vi.spyOn(process.stdout, 'write');
    count(METRIC.invoicesCreated, 1);
    metrics().publishStoredMetrics();
    expect(write.mock.calls.filter(([chunk]) => String(chunk).includes('"_aws"'))).toEqual([]);
    expect(tracer.isTracingEnabled()).toBe(false);
  });

  it('the stream fan-out counts records, published and refused events, and publishes them once', async () => {
    // Events of "b" are always refused; "a" and "c" are accepted.
    eventBridge.on(PutEventsCommand).callsFake((input: { Entries: { Detail: string }[] }) => {
      const results = input.Entries.map((entry) =>
        JSON.parse(entry.Detail).entity_id === 'b' ? { ErrorCode: 'InternalFailure' } : { EventId: 'ok' },
      );
      return { FailedEntryCount: results.filter((r) => 'ErrorCode' in r).length, Entries: results };
    });
    const added = vi.spyOn(metrics(), 'addMetric');
    const published = vi.spyOn(metrics(), 'publishStoredMetrics');
    await fanout({
      Records: [
        streamRecord(customerItem('a')),
        streamRecord(customerItem('b')),
        streamRecord(customerItem('c')),
      ],
    });
    const counts = Object.fromEntries(added.mock.calls.map(([name, , value]) => [name, value]));
    expect(counts).toEqual({
      [METRIC.streamRecords]: 3,
      [METRIC.streamRecordsUnmappable]: 0,
      [METRIC.eventsPublished]: 2,
      [METRIC.eventsNotPublished]: 1,
    });
    expect(published).toHaveBeenCalledTimes(1);
  });

  it('an invocation that counted nothing publishes nothing (no "no metrics" warning per call)', async () => {
    const published = vi.spyOn(metrics(), 'publishStoredMetrics');
    const response = await openapi({ headers: {} } as APIGatewayProxyEventV2, {} as Context);
    expect(response.statusCode).toBe(200);
    expect(published).not.toHaveBeenCalled();
  });
});
