import { execFileSync } from 'node:child_process';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { handler as openapi } from '../../functions/openapi.ts';
import { handler as fanout } from '../../functions/stream-fanout.ts';
import { count, METRIC, metrics, tracingEnabled } from '../../shared/observability.ts';
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
    expect(tracingEnabled()).toBe(false);
  });

  it('decides whether to trace by Powertools’ own rule, before loading the tracer', () => {
    const lambda = { AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs20.x' };
    const environments: NodeJS.ProcessEnv[] = [
      {},
      lambda,
      { ...lambda, POWERTOOLS_TRACE_ENABLED: 'false' },
      { ...lambda, POWERTOOLS_TRACE_ENABLED: 'FALSE' },
      { ...lambda, POWERTOOLS_TRACE_ENABLED: 'true' },
      { ...lambda, AWS_SAM_LOCAL: 'true' },
      { AWS_EXECUTION_ENV: 'AWS_Lambda_amplify-mock' },
      { POWERTOOLS_TRACE_ENABLED: 'true' },
    ];
    const saved = process.env;
    try {
      const decisions = environments.map((env) => {
        process.env = { ...env };
        return [tracingEnabled(env), new Tracer({ captureHTTPsRequests: false }).isTracingEnabled()];
      });
      for (const [ours, powertools] of decisions) expect(ours).toBe(powertools);
      expect(decisions.map(([ours]) => ours)).toContain(true);
    } finally {
      process.env = saved;
    }
  });

  it('loads the X-Ray SDK (and its async hooks) only where tracing is on', () => {
    const loaded = (env: NodeJS.ProcessEnv) =>
      Number(
        execFileSync('npx', ['tsx', 'test/support/xray-modules.ts'], {
          env: { ...process.env, POWERTOOLS_TRACE_ENABLED: '', AWS_EXECUTION_ENV: '', ...env },
          encoding: 'utf8',
        }).trim(),
      );
    expect(loaded({ POWERTOOLS_TRACE_ENABLED: 'false' })).toBe(0);
    expect(loaded({})).toBe(0);
    expect(loaded({ AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs20.x' })).toBeGreaterThan(0);
  }, 60_000);

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
