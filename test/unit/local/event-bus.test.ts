import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { afterEach, describe, expect, it } from 'vitest';
import { LOCAL_AWS } from '../../../local/dynamodb-local.ts';
import { type LocalEventBus, matches, startLocalEventBus } from '../../../local/event-bus.ts';
import { SMART_GATEWAY_SYNC_RULE_PATTERN } from '../../../shared/events/rules.ts';

let bus: LocalEventBus | undefined;
afterEach(async () => bus?.stop());

const put = (endpoint: string, detailType: string, busName = 'test-bus') =>
  new EventBridgeClient({ ...LOCAL_AWS, endpoint }).send(
    new PutEventsCommand({
      Entries: [{ Source: 'tcp.billing', DetailType: detailType, Detail: '{"n":1}', EventBusName: busName }],
    }),
  );

describe('local EventBridge bus', () => {
  it('matches the SmartGateway rule on source and detail-type only', () => {
    expect(
      matches(SMART_GATEWAY_SYNC_RULE_PATTERN, { source: 'tcp.billing', detail_type: 'customer.created' }),
    ).toBe(true);
    expect(
      matches(SMART_GATEWAY_SYNC_RULE_PATTERN, { source: 'other', detail_type: 'customer.created' }),
    ).toBe(false);
    expect(matches(SMART_GATEWAY_SYNC_RULE_PATTERN, { source: 'tcp.billing', detail_type: 'x.y' })).toBe(
      false,
    );
  });

  it('answers the real SDK PutEvents call and delivers the event to a matching target', async () => {
    const received: unknown[] = [];
    bus = await startLocalEventBus({
      busName: 'test-bus',
      targets: [
        { name: 't', pattern: { source: ['tcp.billing'] }, invoke: async (event) => received.push(event) },
      ],
    });
    const response = await put(bus.endpoint, 'customer.created');
    expect(response.FailedEntryCount).toBe(0);
    await bus.idle();
    expect(received).toMatchObject([
      { source: 'tcp.billing', 'detail-type': 'customer.created', detail: { n: 1 } },
    ]);
  });

  it('retries a failing target, then dead-letters the event instead of losing it', async () => {
    let calls = 0;
    bus = await startLocalEventBus({
      busName: 'test-bus',
      maxAttempts: 3,
      retryDelayMs: 1,
      targets: [
        {
          name: 'flaky',
          pattern: {},
          invoke: async () => {
            calls++;
            throw new Error('table unavailable');
          },
        },
      ],
    });
    await put(bus.endpoint, 'customer.created');
    await bus.idle();
    expect(calls).toBe(3);
    expect(bus.deadLetters()).toHaveLength(1);
    expect(bus.deadLetters()[0]!.deliveries).toEqual([
      { target: 'flaky', status: 'dead-lettered', attempts: 3, error: 'table unavailable' },
    ]);
  });

  it('rejects an entry for another bus as a failed entry, like EventBridge', async () => {
    bus = await startLocalEventBus({ busName: 'test-bus', targets: [] });
    const response = await put(bus.endpoint, 'customer.created', 'no-such-bus');
    expect(response.FailedEntryCount).toBe(1);
    expect(response.Entries?.[0]?.ErrorCode).toBe('ResourceNotFoundException');
  });
});
