import { DescribeStreamCommand, DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { DeleteMessageCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_AWS } from '../../local/dynamodb-local.ts';
import { toEventBridgeEvent } from '../../local/event-bus.ts';
import type { LambdaHandler } from '../../local/http-server.ts';
import { parseDeadLetter, putBack, redriveQueue, republishStreamBatch } from '../../ops/dead-letters.ts';
import { eventBridge } from '../../shared/events/publisher.ts';
import { SCOPES } from '../../shared/http/routes.ts';
import { budgetRowOf, subscribeOverHttp } from '../support/http-fixtures.ts';
import { startTestService, type TestService } from '../support/local-service.ts';

/**
 * The redrive tool (`npm run redrive`, ops/redrive.ts) against the real local stream and bus: the
 * dead-letter messages are built exactly as AWS writes them (SQS is the one mocked part).
 */
const down = { fanout: false, sync: false };
let service: TestService;
let operator: string;
// The DLQ's client alone: the fan-out's own SQS client (the budget queue) stays real.
const dlqClient = new SQSClient(LOCAL_AWS);
const sqs = mockClient(dlqClient);
const QUEUE = 'https://sqs.local/000000000000/dlq';

beforeAll(async () => {
  service = await startTestService({
    wrapHandler: (name, handler) => {
      if (name !== 'stream-fanout' && name !== 'smart-gateway-sync') return handler;
      return (async (event: never, context: never) => {
        if (name === 'stream-fanout' ? down.fanout : down.sync) throw new Error(`injected: ${name} down`);
        return handler(event, context);
      }) as unknown as LambdaHandler;
    },
  });
  operator = await service.token(Object.values(SCOPES));
});
afterAll(async () => service?.close());
afterEach(() => {
  sqs.reset();
  down.fanout = false;
  down.sync = false;
});

/** The queue holds `bodies` once, then is empty. */
function queueHolding(bodies: string[]) {
  sqs
    .on(ReceiveMessageCommand)
    .resolvesOnce({
      Messages: bodies.map((Body, i) => ({ MessageId: `m${i}`, ReceiptHandle: `r${i}`, Body })),
    })
    .resolves({ Messages: [] });
  sqs.on(DeleteMessageCommand).resolves({});
}

const deletedHandles = () => sqs.commandCalls(DeleteMessageCommand).map((c) => c.args[0].input.ReceiptHandle);

describe('reading dead letters', () => {
  const event = {
    version: '0',
    id: 'e1',
    'detail-type': 'subscription.created',
    source: 'tcp.billing',
    detail: { a: 1 },
  };
  it('reads an EventBridge target DLQ message, a Lambda failure record and a stream batch description', () => {
    expect(parseDeadLetter(JSON.stringify(event))).toMatchObject({
      kind: 'event',
      event: { detailType: 'subscription.created' },
    });
    expect(
      parseDeadLetter(JSON.stringify({ version: '1.0', requestPayload: event, responsePayload: {} })),
    ).toMatchObject({
      kind: 'event',
      event: { source: 'tcp.billing', detail: { a: 1 } },
    });
    expect(
      parseDeadLetter(
        JSON.stringify({
          DDBStreamBatchInfo: {
            shardId: 's',
            startSequenceNumber: '1',
            endSequenceNumber: '2',
            streamArn: 'arn',
          },
        }),
      ),
    ).toEqual({
      kind: 'stream-batch',
      batch: { shardId: 's', startSequenceNumber: '1', endSequenceNumber: '2', streamArn: 'arn' },
    });
  });

  it('calls anything else unreadable, and leaves it in the queue', async () => {
    for (const body of ['not json', '[]', '{"hello":1}', '{"DDBStreamBatchInfo":{"shardId":1}}']) {
      expect(parseDeadLetter(body).kind).toBe('unreadable');
    }
    queueHolding(['not json']);
    const report = await redriveQueue({
      sqs: dlqClient,
      queueUrl: QUEUE,
      redrive: async () => undefined,
    });
    expect(report).toMatchObject({ redriven: 0, unreadable: 1 });
    expect(deletedHandles()).toEqual([]);
  });
});

describe('redriving against the local stream and bus', () => {
  it('a parked stream batch is read back from the stream and published; the message is deleted', async () => {
    const { subscription } = await subscribeOverHttp(service, operator, 'Stream DLQ');
    await service.settled();
    down.fanout = true;
    const patched = await service.call('PATCH', `/api/v1/subscriptions/${subscription.id}`, {
      token: operator,
      body: { total_budget: 8080 },
    });
    expect(patched.status).toBe(200);
    await service.settled();
    const parked = service
      .streamDeadLetters()
      .find((d) => d.record.dynamodb?.NewImage?.id?.S === subscription.id);
    expect(parked).toBeDefined();
    expect(await budgetRowOf(service, subscription.id)).toMatchObject({ total_budget: 5000 });

    const streams = new DynamoDBStreamsClient({ ...LOCAL_AWS, endpoint: service.dynamoDbEndpoint });
    const streamArn = parked!.record.eventSourceARN!;
    const { StreamDescription } = await streams.send(new DescribeStreamCommand({ StreamArn: streamArn }));
    const sequence = parked!.record.dynamodb!.SequenceNumber!;
    // What Lambda's on-failure destination writes for a DynamoDB stream batch.
    queueHolding([
      JSON.stringify({
        requestContext: {
          requestId: 'x',
          functionArn: 'arn:fanout',
          condition: 'RetryAttemptsExhausted',
          approximateInvokeCount: 6,
        },
        responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
        version: '1.0',
        timestamp: new Date().toISOString(),
        DDBStreamBatchInfo: {
          shardId: StreamDescription!.Shards![0]!.ShardId!,
          startSequenceNumber: sequence,
          endSequenceNumber: sequence,
          approximateArrivalOfFirstRecord: new Date().toISOString(),
          approximateArrivalOfLastRecord: new Date().toISOString(),
          batchSize: 1,
          streamArn,
        },
      }),
    ]);
    down.fanout = false;
    const { handler } = (await import('../../functions/stream-fanout.ts')) as {
      handler: (event: DynamoDBStreamEvent) => Promise<DynamoDBBatchResponse>;
    };
    const report = await redriveQueue({
      sqs: dlqClient,
      queueUrl: QUEUE,
      redrive: async (letter) => {
        if (letter.kind !== 'stream-batch') throw new Error('expected a stream batch');
        await republishStreamBatch(streams, letter.batch, handler);
      },
    });
    streams.destroy();
    expect(report).toMatchObject({ redriven: 1, failed: 0 });
    expect(deletedHandles()).toEqual(['r0']);
    expect(await budgetRowOf(service, subscription.id)).toMatchObject({
      total_budget: 8080,
      current_spend: 0,
    });
  });

  it('dead-lettered events (both formats) go back on the bus and are applied once', async () => {
    down.sync = true;
    const first = await subscribeOverHttp(service, operator, 'Sync DLQ 1');
    const second = await subscribeOverHttp(service, operator, 'Sync DLQ 2');
    await service.settled();
    const dead = service.bus.deadLetters();
    const eventFor = (subscriptionId: string) => {
      const record = dead.find(
        (r) =>
          r.detail_type === 'budget.updated' &&
          (r.detail as { entity_id: string }).entity_id === `budget#${subscriptionId}`,
      )!;
      expect(record).toBeDefined();
      return toEventBridgeEvent(record);
    };
    queueHolding([
      JSON.stringify(eventFor(first.subscription.id)),
      JSON.stringify({
        version: '1.0',
        timestamp: new Date().toISOString(),
        requestContext: {
          requestId: 'y',
          functionArn: 'arn:sync',
          condition: 'RetriesExhausted',
          approximateInvokeCount: 3,
        },
        requestPayload: eventFor(second.subscription.id),
        responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
        responsePayload: { errorMessage: 'injected' },
      }),
    ]);
    down.sync = false;
    const report = await redriveQueue({
      sqs: dlqClient,
      queueUrl: QUEUE,
      redrive: async (letter) => {
        if (letter.kind !== 'event') throw new Error('expected an event');
        await putBack(eventBridge(), process.env.EVENT_BUS_NAME!, letter.event);
      },
    });
    expect(report).toMatchObject({ redriven: 2, failed: 0, unreadable: 0 });
    expect(deletedHandles()).toEqual(['r0', 'r1']);
    for (const { subscription } of [first, second]) {
      expect(await budgetRowOf(service, subscription.id)).toMatchObject({
        total_budget: 5000,
        current_spend: 0,
      });
    }
  });

  it('a dry run goes through the queue once even when messages come back', async () => {
    const body = JSON.stringify({ source: 'tcp.billing', 'detail-type': 'x', detail: {} });
    // SQS hands the same (undeleted) message out again once its visibility timeout has passed.
    sqs
      .on(ReceiveMessageCommand)
      .resolves({ Messages: [{ MessageId: 'm0', ReceiptHandle: 'r0', Body: body }] });
    const report = await redriveQueue({
      sqs: dlqClient,
      queueUrl: QUEUE,
      dryRun: true,
      redrive: async () => undefined,
    });
    expect(report).toMatchObject({ redriven: 1, failed: 0 });
    expect(deletedHandles()).toEqual([]);
  });

  it('a message whose redrive fails stays in the queue', async () => {
    queueHolding([JSON.stringify({ source: 'tcp.billing', 'detail-type': 'x', detail: {} })]);
    const report = await redriveQueue({
      sqs: dlqClient,
      queueUrl: QUEUE,
      redrive: async () => {
        throw new Error('the bus is still down');
      },
    });
    expect(report).toMatchObject({ redriven: 0, failed: 1 });
    expect(report.errors[0]).toContain('the bus is still down');
    expect(deletedHandles()).toEqual([]);
  });
});
