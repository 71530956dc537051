import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import type { DynamoDBStreamEvent } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { LambdaHandler } from '../../local/http-server.ts';
import { eventBridge } from '../../shared/events/publisher.ts';
import { SCOPES } from '../../shared/http/routes.ts';
import { dynamo } from '../../shared/store/client.ts';
import { budgetRowOf, subscribeOverHttp } from '../support/http-fixtures.ts';
import { startTestService, type TestService } from '../support/local-service.ts';

/**
 * Faults injected into the running local service (same handlers, real DynamoDB Local, real SDK
 * clients): for each, nothing is lost (it reaches the bus, or the dead letters from which a redrive
 * puts it through) and nothing is applied twice.
 */
const faults = {
  /** The SmartGateway sync throws for these detail-types (every attempt). */
  syncFailsFor: new Set<string>(),
  /** The fan-out publishes its batch, then crashes before acknowledging it, this many times. */
  fanoutCrashesAfterPublishing: 0,
  /** The fan-out fails before publishing anything (EventBridge unreachable) while set. */
  fanoutDown: false,
  /** Sequence numbers of every record the fan-out was given, and of those in batches that crashed. */
  fanoutGiven: [] as string[],
  crashedRecords: [] as string[],
  injected: 0,
};

let service: TestService;
let operator: string;

beforeAll(async () => {
  service = await startTestService({
    wrapHandler: (name, handler) => {
      if (name === 'smart-gateway-sync') {
        return (async (event: { 'detail-type': string }, context: never) => {
          if (faults.syncFailsFor.has(event['detail-type'])) {
            faults.injected++;
            throw new Error(`injected: sync down for ${event['detail-type']}`);
          }
          return handler(event as never, context);
        }) as unknown as LambdaHandler;
      }
      if (name === 'stream-fanout') {
        return (async (event: DynamoDBStreamEvent, context: never) => {
          if (faults.fanoutDown) {
            faults.injected++;
            throw new Error('injected: the bus is unreachable');
          }
          const sequences = event.Records.map((r) => r.dynamodb?.SequenceNumber ?? '');
          faults.fanoutGiven.push(...sequences);
          const result = await handler(event as never, context);
          if (faults.fanoutCrashesAfterPublishing > 0) {
            faults.fanoutCrashesAfterPublishing--;
            faults.crashedRecords.push(...sequences);
            faults.injected++;
            throw new Error('injected: fan-out crashed after publishing, before acknowledging');
          }
          return result;
        }) as unknown as LambdaHandler;
      }
      return handler;
    },
  });
  operator = await service.token(Object.values(SCOPES));
});
afterAll(async () => {
  console.log(`faults injected: ${faults.injected}`);
  await service?.close();
});
afterEach(() => {
  faults.syncFailsFor.clear();
  faults.fanoutCrashesAfterPublishing = 0;
  faults.fanoutDown = false;
  for (const name of ['dynamoFault', 'eventBridgeFault']) {
    dynamo().middlewareStack.remove(name);
    eventBridge().middlewareStack.remove(name);
  }
});

const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  service.call('POST', path, { token: operator, body, headers });

const usageOf = async (subscriptionId: string) => {
  const { body } = await service.call('GET', `/api/v1/subscriptions/${subscriptionId}/usage`, {
    token: operator,
  });
  const calls = (
    body.metrics as { metric: string; quantity: string; records: number; amount: number }[]
  ).find((m) => m.metric === 'calls');
  return calls ?? { quantity: '0', records: 0, amount: 0 };
};

type Fault = (commandName: string, next: () => Promise<unknown>) => Promise<unknown>;

/** Runs `fault` around every DynamoDB call of the service (inside the SDK's retry loop). */
function injectIntoDynamo(fault: Fault) {
  dynamo().middlewareStack.add(
    (next, context) => (args) =>
      fault(context.commandName ?? '', () => next(args)) as ReturnType<typeof next>,
    { step: 'deserialize', name: 'dynamoFault' },
  );
}

const throttled = () =>
  Object.assign(new Error('Rate of requests exceeds the allowed throughput (injected)'), {
    name: 'ProvisionedThroughputExceededException',
    $fault: 'client',
    $metadata: { httpStatusCode: 400 },
    $retryable: { throttling: true },
  });

describe('DynamoDB faults on the write path', () => {
  it('throttling absorbed by the SDK: the record is counted once', async () => {
    const { subscription } = await subscribeOverHttp(service, operator, 'Throttle A');
    let throttles = 2;
    injectIntoDynamo(async (command, next) => {
      if (command === 'TransactWriteItemsCommand' && throttles > 0) {
        throttles--;
        faults.injected++;
        throw throttled();
      }
      return next();
    });
    const response = await post('/api/v1/usage-records', {
      subscription_id: subscription.id,
      idempotency_key: 'throttled-1',
      metric: 'calls',
      quantity: 7,
    });
    expect(response.status).toBe(201);
    expect(throttles).toBe(0);
    expect(await usageOf(subscription.id)).toMatchObject({ quantity: '7', records: 1 });
  });

  it('throttling that outlasts the retries answers 503 with nothing written; the retry counts once', async () => {
    const { subscription } = await subscribeOverHttp(service, operator, 'Throttle B');
    injectIntoDynamo(async (command, next) => {
      if (command === 'TransactWriteItemsCommand') {
        faults.injected++;
        throw throttled();
      }
      return next();
    });
    const record = {
      subscription_id: subscription.id,
      idempotency_key: 'throttled-2',
      metric: 'calls',
      quantity: 5,
    };
    const refused = await post('/api/v1/usage-records', record);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(refused.body.type).toBe('/problems/service-unavailable');
    expect(await usageOf(subscription.id)).toMatchObject({ records: 0 });

    dynamo().middlewareStack.remove('dynamoFault');
    expect((await post('/api/v1/usage-records', record)).status).toBe(201);
    expect((await post('/api/v1/usage-records', record)).status).toBe(200); // a duplicate, not counted
    expect(await usageOf(subscription.id)).toMatchObject({ quantity: '5', records: 1 });
  });

  it('a transaction whose answer was lost is retried idempotently: accepted, counted once', async () => {
    const { subscription } = await subscribeOverHttp(service, operator, 'Lost answer');
    let lose = 1;
    injectIntoDynamo(async (command, next) => {
      const result = await next();
      if (command === 'TransactWriteItemsCommand' && lose > 0) {
        lose--;
        faults.injected++;
        // The write committed; the connection dropped before its answer arrived.
        throw Object.assign(new Error('socket hang up (injected)'), {
          name: 'TimeoutError',
          code: 'ECONNRESET',
          $metadata: {},
        });
      }
      return result;
    });
    const response = await post('/api/v1/usage-records', {
      subscription_id: subscription.id,
      idempotency_key: 'lost-1',
      metric: 'calls',
      quantity: 3,
    });
    expect(lose).toBe(0);
    expect(response.status).toBe(201);
    expect(await usageOf(subscription.id)).toMatchObject({ quantity: '3', records: 1 });
  });

  it('transaction conflicts on a subscription change are retried: one change, one audit entry', async () => {
    const { subscription } = await subscribeOverHttp(service, operator, 'Conflict');
    let conflicts = 2;
    injectIntoDynamo(async (command, next) => {
      if (command === 'TransactWriteItemsCommand' && conflicts > 0) {
        conflicts--;
        faults.injected++;
        throw new TransactionCanceledException({
          message: 'Transaction cancelled (injected)',
          $metadata: {},
          CancellationReasons: [{ Code: 'TransactionConflict' }, { Code: 'None' }],
        });
      }
      return next();
    });
    const response = await service.call('PATCH', `/api/v1/subscriptions/${subscription.id}`, {
      token: operator,
      body: { total_budget: 7777 },
    });
    expect(response.status).toBe(200);
    expect(conflicts).toBe(0);
    expect(response.body).toMatchObject({ total_budget: 7777, version: subscription.version + 1 });
    const trail = await service.call('GET', `/api/v1/audit/subscription/${subscription.id}`, {
      token: operator,
    });
    expect(trail.body.data.map((e: { action: string }) => e.action)).toEqual([
      'subscription.created',
      'subscription.updated',
    ]);
  });

  it('a conditional-check failure (stale If-Match) changes nothing', async () => {
    const { subscription } = await subscribeOverHttp(service, operator, 'Stale');
    const first = await service.call('PATCH', `/api/v1/subscriptions/${subscription.id}`, {
      token: operator,
      body: { total_budget: 6000 },
      headers: { 'if-match': `"${subscription.version}"` },
    });
    expect(first.status).toBe(200);
    const stale = await service.call('PATCH', `/api/v1/subscriptions/${subscription.id}`, {
      token: operator,
      body: { total_budget: 1 },
      headers: { 'if-match': `"${subscription.version}"` },
    });
    expect(stale.status).toBe(409);
    const now = await service.call('GET', `/api/v1/subscriptions/${subscription.id}`, { token: operator });
    expect(now.body).toMatchObject({ total_budget: 6000, version: subscription.version + 1 });
  });
});

describe('event path faults', () => {
  it('PutEvents throttled and partially failing: every event still reaches the SmartGateway once', async () => {
    const { subscription } = await subscribeOverHttp(service, operator, 'PutEvents');
    await service.settled();
    let throttles = 2;
    let partialFailures = 3;
    type Args = { input: { Entries?: unknown[] } };
    type Result = { output: { Entries?: unknown[]; FailedEntryCount?: number } };
    const fault = (next: (args: Args) => Promise<Result>) => async (args: Args) => {
      const input = args.input;
      if (throttles > 0) {
        throttles--;
        faults.injected++;
        throw Object.assign(new Error('Rate exceeded (injected)'), {
          name: 'ThrottlingException',
          $fault: 'client',
          $metadata: { httpStatusCode: 400 },
          $retryable: { throttling: true },
        });
      }
      if (partialFailures > 0 && (input.Entries?.length ?? 0) > 0) {
        // EventBridge accepts the call but rejects its first entry.
        partialFailures--;
        faults.injected++;
        const [, ...rest] = input.Entries!;
        const result = await next({ ...args, input: { ...input, Entries: rest } });
        result.output.Entries = [
          { ErrorCode: 'InternalFailure', ErrorMessage: 'injected' },
          ...(result.output.Entries ?? []),
        ];
        result.output.FailedEntryCount = (result.output.FailedEntryCount ?? 0) + 1;
        return result;
      }
      return next(args);
    };
    eventBridge().middlewareStack.add(fault as never, { step: 'initialize', name: 'eventBridgeFault' });
    const records = Array.from({ length: 40 }, (_, i) => ({
      subscription_id: subscription.id,
      idempotency_key: `pe-${i}`,
      metric: 'calls',
      quantity: 3,
    }));
    expect((await post('/api/v1/usage-records', { records })).body.accepted).toBe(40);
    await service.call('PATCH', `/api/v1/subscriptions/${subscription.id}`, {
      token: operator,
      body: { total_budget: 9100 },
    });
    await service.settled();
    expect(throttles).toBe(0);
    expect(partialFailures).toBe(0);
    // 120 calls × 0.5 cents = 60 cents; the new budget came through too.
    expect(await budgetRowOf(service, subscription.id)).toMatchObject({
      current_spend: 60,
      total_budget: 9100,
    });
    const dead = (await service.call('GET', '/_local/dead-letters')).body;
    expect(dead.stream).toEqual([]);
  });

  it('the fan-out crashing after publishing re-publishes the same events; nothing is applied twice', async () => {
    const { subscription } = await subscribeOverHttp(service, operator, 'Crash');
    await service.settled();
    faults.crashedRecords = [];
    faults.fanoutCrashesAfterPublishing = 2;
    for (let i = 0; i < 5; i++) {
      await post('/api/v1/usage-records', {
        subscription_id: subscription.id,
        idempotency_key: `crash-${i}`,
        metric: 'calls',
        quantity: 11,
      });
    }
    await service.settled();
    expect(faults.fanoutCrashesAfterPublishing).toBe(0);
    // Every record of a crashed batch (published, not acknowledged) was handed to the fan-out again.
    expect(faults.crashedRecords.length).toBeGreaterThan(0);
    for (const sequence of faults.crashedRecords) {
      expect(faults.fanoutGiven.filter((s) => s === sequence).length, sequence).toBeGreaterThanOrEqual(2);
    }
    // 55 calls × 0.5 = 27.5 → 28 cents: counted once, whatever was delivered twice.
    expect(await budgetRowOf(service, subscription.id)).toMatchObject({ current_spend: 28 });
    expect(await usageOf(subscription.id)).toMatchObject({ quantity: '55', records: 5 });
  });

  it('the sync failing on every retry dead-letters the event; the redrive applies it once', async () => {
    faults.syncFailsFor.add('budget.updated');
    const { subscription } = await subscribeOverHttp(service, operator, 'Redrive');
    await service.settled();
    expect(await budgetRowOf(service, subscription.id)).toBeUndefined();
    const dead = (await service.call('GET', '/_local/dead-letters')).body.bus as {
      detail: { entity_id: string };
    }[];
    expect(dead.map((record) => record.detail.entity_id)).toContain(`budget#${subscription.id}`);

    faults.syncFailsFor.clear();
    const redrive = await service.call('POST', '/_local/redrive');
    expect(redrive.body.bus).toMatchObject({ still_dead: 0 });
    expect(redrive.body.bus.redriven).toBeGreaterThanOrEqual(1);
    expect(await budgetRowOf(service, subscription.id)).toMatchObject({
      subscription_id: subscription.id,
      total_budget: 5000,
      current_spend: 0,
    });
    // A second redrive has nothing left to do.
    expect((await service.call('POST', '/_local/redrive')).body.bus).toEqual({ redriven: 0, still_dead: 0 });
  });

  it('a stream record the fan-out cannot publish is parked, and the redrive publishes it', async () => {
    const { subscription } = await subscribeOverHttp(service, operator, 'Parked');
    await service.settled();
    faults.fanoutDown = true; // every try fails: the poller parks the record
    await service.call('PATCH', `/api/v1/subscriptions/${subscription.id}`, {
      token: operator,
      body: { total_budget: 4242 },
    });
    await service.settled();
    const parked = service.streamDeadLetters().length;
    expect(parked).toBeGreaterThanOrEqual(1);
    expect(await budgetRowOf(service, subscription.id)).toMatchObject({ total_budget: 5000 });
    faults.fanoutDown = false;
    const redrive = await service.call('POST', '/_local/redrive');
    expect(redrive.body.stream).toEqual({ redriven: parked, still_dead: 0 });
    expect(await budgetRowOf(service, subscription.id)).toMatchObject({ total_budget: 4242 });
  });
});
