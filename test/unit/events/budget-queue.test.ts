import { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { resetConfigCache } from '../../../shared/config.ts';
import { enqueueBudgetInputs, resetSqsClient } from '../../../shared/events/budget-queue.ts';
import type { EventEnvelope } from '../../../shared/events/envelope.ts';

const sqs = mockClient(SQSClient);
beforeAll(() => {
  Object.assign(process.env, {
    TABLE_NAME: 'unit',
    BUDGET_QUEUE_URL: 'https://sqs.test/q.fifo',
    AWS_REGION: 'us-east-1',
  });
  resetConfigCache();
  resetSqsClient();
});
afterEach(() => sqs.reset());

const usage = (subscription: string, shard: number, padding = ''): EventEnvelope => ({
  id: `e-${subscription}-${shard}`,
  type: 'usage.aggregated',
  schema_version: 1,
  occurred_at: '2026-03-05T00:00:00.000Z',
  entity_id: `${subscription}#${shard}`,
  entity_version: 1,
  tenant_id: 't',
  data: {
    subscription_id: subscription,
    metric: `calls${padding}`,
    shard,
    quantity: '1',
    price: { id: 'p' },
  },
});
const customer: EventEnvelope = { ...usage('x', 0), id: 'c', type: 'customer.created', data: { id: 'c' } };
const oneOffPaid: EventEnvelope = {
  ...usage('x', 0),
  id: 'i',
  type: 'invoice.paid',
  data: { subscription_id: null },
};

describe('the budget queue sender', () => {
  it("one message per subscription, its group, carrying that subscription's events in order; other events stay off the queue", async () => {
    sqs.on(SendMessageBatchCommand).callsFake((input: { Entries: { Id: string }[] }) => ({
      Successful: input.Entries.map((e) => ({ Id: e.Id })),
      Failed: [],
    }));
    const events = [usage('a', 0), customer, usage('b', 0), usage('a', 1), oneOffPaid];
    expect(await enqueueBudgetInputs(events)).toEqual({ failed: [] });
    const entries = sqs.commandCalls(SendMessageBatchCommand).flatMap((c) => c.args[0].input.Entries ?? []);
    expect(
      entries.map((e) => [e.MessageGroupId, JSON.parse(e.MessageBody!).map((m: EventEnvelope) => m.id)]),
    ).toEqual([
      ['a', ['e-a-0', 'e-a-1']],
      ['b', ['e-b-0']],
    ]);
    // The same events always make the same deduplication id; other events another.
    expect(new Set(entries.map((e) => e.MessageDeduplicationId)).size).toBe(2);
  });

  it('a subscription with more than fits in one message gets several, each under the SQS limit', async () => {
    sqs.on(SendMessageBatchCommand).callsFake((input: { Entries: { Id: string }[] }) => ({
      Successful: input.Entries.map((e) => ({ Id: e.Id })),
    }));
    const many = Array.from({ length: 400 }, (_, shard) => usage('a', shard, 'x'.repeat(1000)));
    await enqueueBudgetInputs(many);
    const entries = sqs.commandCalls(SendMessageBatchCommand).flatMap((c) => c.args[0].input.Entries ?? []);
    expect(entries.length).toBeGreaterThan(1);
    for (const entry of entries) expect(Buffer.byteLength(entry.MessageBody!)).toBeLessThan(256 * 1024);
    expect(entries.flatMap((e) => JSON.parse(e.MessageBody!)).map((m: EventEnvelope) => m.id)).toEqual(
      many.map((m) => m.id),
    );
  });

  it('what SQS refused, or did not say it took, or a failed call, is reported failed for the fan-out to retry', async () => {
    sqs
      .on(SendMessageBatchCommand)
      .resolvesOnce({ Successful: [], Failed: [{ Id: '0', Code: 'InternalError', SenderFault: false }] })
      .resolvesOnce({})
      .rejectsOnce(new Error('network'));
    const refused = await enqueueBudgetInputs([usage('a', 0)]);
    expect(refused.failed).toEqual([
      { event: expect.objectContaining({ id: 'e-a-0' }), errorCode: 'InternalError' },
    ]);
    expect((await enqueueBudgetInputs([usage('b', 0)])).failed.map((f) => f.errorCode)).toEqual(['NotTaken']);
    expect((await enqueueBudgetInputs([usage('c', 0)])).failed).toHaveLength(1);
  });
});
