import { type AttributeValue, DynamoDBClient, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_AWS } from '../../local/dynamodb-local.ts';
import { SCOPES } from '../../shared/http/routes.ts';
import { closePeriodsAt, subscribeOverHttp } from '../support/http-fixtures.ts';
import { startWithOperator, type TestService } from '../support/local-service.ts';

/**
 * Found from outside: a tenant token with only billing:usage:create posted 23 batches of 1000
 * records of quantity 9,999,999,999,999; every record was accepted, the rated amount passed 2^53
 * minor units, GET …/usage answered 500 and every run of the period close failed with a
 * RangeError, so no other subscription was closed and dunning stopped for everyone.
 */
let service: TestService;
let operator: string;

beforeAll(async () => {
  ({ service, operator } = await startWithOperator());
});
afterAll(async () => service?.close());

// The fixture's plan: 0.5 ¢ per call, so a period may hold 2 × 10^12 calls (10^12 minor units),
// 2.5 × 10^11 in each of the 8 counter shards.
const LIMIT = 2_000_000_000_000;

describe("a period's usage is bounded by what an invoice can hold", () => {
  it('refuses the record that would cross the limit, naming quantity; those before it stay counted', async () => {
    const { customer, subscription } = await subscribeOverHttp(service, operator, 'Limits');
    const tenant = await service.token([SCOPES.usageCreate], { tenantId: customer.id });
    const single = await service.call('POST', '/api/v1/usage-records', {
      token: tenant,
      body: {
        subscription_id: subscription.id,
        idempotency_key: 'huge',
        metric: 'calls',
        quantity: '9999999999999',
      },
    });
    expect(single.status).toBe(422);
    expect(single.body.errors).toEqual([
      { field: 'quantity', message: expect.stringMatching(/2000000000000/) },
    ]);

    const records = Array.from({ length: 150 }, (_, i) => ({
      subscription_id: subscription.id,
      idempotency_key: `big-${i}`,
      metric: 'calls',
      quantity: '100000000000',
    }));
    const batch = await service.call('POST', '/api/v1/usage-records', { token: tenant, body: { records } });
    expect(batch.status).toBe(200);
    const accepted = batch.body.results.filter((r: { status: string }) => r.status === 'accepted');
    const refused = batch.body.results.filter((r: { status: string }) => r.status === 'rejected');
    expect(accepted.length + refused.length).toBe(150);
    expect(accepted.length * 100_000_000_000).toBeLessThanOrEqual(LIMIT);
    expect(accepted.length).toBeGreaterThanOrEqual(2);
    // The first records of the batch are counted, in order, until one would cross its shard's share.
    expect(batch.body.results.slice(0, 2).map((r: { status: string }) => r.status)).toEqual([
      'accepted',
      'accepted',
    ]);
    for (const result of refused) {
      expect(result.error.status).toBe(422);
      expect(result.error.errors[0].field).toBe(`records.${result.index}.quantity`);
    }
    // A retry of the whole batch counts nothing twice and nothing past the limit.
    const again = await service.call('POST', '/api/v1/usage-records', { token: tenant, body: { records } });
    expect(again.body.accepted + accepted.length).toBeLessThanOrEqual(LIMIT / 100_000_000_000);

    const usage = await service.call('GET', `/api/v1/subscriptions/${subscription.id}/usage`, {
      token: operator,
    });
    expect(usage.status).toBe(200);
    const calls = usage.body.metrics[0];
    expect(BigInt(calls.quantity)).toBeLessThanOrEqual(BigInt(LIMIT));
    expect(calls.amount).toBe(Number(BigInt(calls.quantity) / 2n)); // 0.5 ¢ each, an even count
    expect(calls.amount).toBeLessThanOrEqual(1_000_000_000_000);

    const closed = await closePeriodsAt(
      service,
      new Date(new Date(subscription.current_period_end).getTime() + 1000),
    );
    expect(closed).toMatchObject({ failed: 0 });
    // 300 huge records through the whole path: ~25 s on a busy 2-core machine.
  }, 90_000);

  it('one subscription that cannot be closed is reported and marked; every other one is closed', async () => {
    const poisoned = await subscribeOverHttp(service, operator, 'Poisoned');
    const healthy = await subscribeOverHttp(service, operator, 'Healthy');
    for (const { subscription } of [poisoned, healthy]) {
      const posted = await service.call('POST', '/api/v1/usage-records', {
        token: operator,
        body: { subscription_id: subscription.id, idempotency_key: 'one', metric: 'calls', quantity: 1 },
      });
      expect(posted.status).toBe(201);
    }
    // A total counted before the limit existed (written straight to the store): it rates past 2^53.
    const aggregate = (await service.billingItems()).find(
      (item) => item.item_type === 'usage_aggregate' && item.subscription_id === poisoned.subscription.id,
    )!;
    const setQuantity = async (quantity: string) => {
      const client = new DynamoDBClient({ ...LOCAL_AWS, endpoint: service.dynamoDbEndpoint });
      await client.send(
        new UpdateItemCommand({
          TableName: service.tables.billing,
          Key: marshall({ PK: aggregate.PK, SK: aggregate.SK }) as Record<string, AttributeValue>,
          UpdateExpression: 'SET quantity = :q',
          ExpressionAttributeValues: { ':q': { N: quantity } },
        }),
      );
      client.destroy();
    };
    await setQuantity('99999999999999999999');
    const usage = await service.call('GET', `/api/v1/subscriptions/${poisoned.subscription.id}/usage`, {
      token: operator,
    });
    expect(usage.status).toBe(409);
    expect(usage.body.detail).toMatch(/more than an invoice line can hold/);

    const after = new Date(new Date(healthy.subscription.current_period_end).getTime() + 1000);
    const report = await closePeriodsAt(service, after);
    expect(report).toMatchObject({ failed: 1 });
    expect(report.failures).toEqual([
      { subscription_id: poisoned.subscription.id, reason: expect.stringMatching(/RangeError/) },
    ]);
    const invoiced = await service.call('GET', `/api/v1/invoices?customer_id=${healthy.customer.id}`, {
      token: operator,
    });
    expect(invoiced.body.data).toHaveLength(1);
    const markers = () =>
      service.billingItems().then((items) => items.filter((i) => i.item_type === 'close_failure'));
    expect(await markers()).toEqual([
      expect.objectContaining({ subscription_id: poisoned.subscription.id, attempts: 1 }),
    ]);

    // Repaired, the next run closes it and the marker goes.
    await setQuantity('1');
    expect(await closePeriodsAt(service, after)).toMatchObject({ failed: 0, invoices_created: 1 });
    expect(await markers()).toEqual([]);
  });
});
