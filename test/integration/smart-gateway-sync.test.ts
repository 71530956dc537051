import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import type { SubscriptionEventData } from '../../shared/events/catalog.ts';
import { type EventEnvelope, eventId } from '../../shared/events/envelope.ts';
import { applyBillingEvent } from '../../shared/smart-gateway/apply-event.ts';
import { useTestStore } from '../support/store.ts';

let store: Awaited<ReturnType<typeof useTestStore>>;
beforeAll(async () => {
  store = await useTestStore();
});

const subscriptionEvent = (
  subscriptionId: string,
  version: number,
  overrides: Partial<SubscriptionEventData> = {},
): EventEnvelope<SubscriptionEventData> => ({
  id: eventId(version === 1 ? 'subscription.created' : 'subscription.updated', subscriptionId, version),
  type: version === 1 ? 'subscription.created' : 'subscription.updated',
  schema_version: 1,
  occurred_at: `2026-03-0${version}T00:00:00.000Z`,
  entity_id: subscriptionId,
  entity_version: version,
  tenant_id: 'tenant-1',
  data: {
    subscription_id: subscriptionId,
    tenant_id: 'tenant-1',
    customer_id: 'tenant-1',
    plan_id: `plan-v${version}`,
    items: [{ plan_id: `plan-v${version}`, quantity: 1 }],
    status: 'active',
    total_budget: 1000 * version,
    currency: 'USD',
    period_start: '2026-03-01T00:00:00.000Z',
    period_end: '2026-04-01T00:00:00.000Z',
    cancel_at_period_end: false,
    canceled_at: null,
    routing_policy: { priority: version, match_expression: '*', strategy: 'weighted', targets: ['a'] },
    changes: [],
    ...overrides,
  },
});

async function row(table: string, subscriptionId: string) {
  const { Item } = await store.client.send(
    new GetItemCommand({
      TableName: table,
      Key: { tenant_id: { S: 'tenant-1' }, subscription_id: { S: subscriptionId } },
      ConsistentRead: true,
    }),
  );
  return Item ? unmarshall(Item) : undefined;
}

describe('SmartGateway sync against DynamoDB Local', () => {
  it('subscription.created inserts the budget row with zero spend and the routing policy', async () => {
    const outcome = await applyBillingEvent(subscriptionEvent('s-new', 1));
    expect(outcome.action).toBe('applied');
    expect(await row(store.tables.budgets, 's-new')).toMatchObject({
      plan_id: 'plan-v1',
      total_budget: 1000,
      current_spend: 0,
      period_start: '2026-03-01T00:00:00.000Z',
      period_end: '2026-04-01T00:00:00.000Z',
      status: 'active',
      version: 1,
    });
    expect(await row(store.tables.routingPolicies, 's-new')).toMatchObject({
      enabled: true,
      priority: 1,
      strategy: 'weighted',
      targets: ['a'],
    });
  });

  it('the same event delivered twice changes nothing the second time', async () => {
    await applyBillingEvent(subscriptionEvent('s-dup', 1));
    await applyBillingEvent(subscriptionEvent('s-dup', 2));
    const before = await row(store.tables.budgets, 's-dup');
    expect((await applyBillingEvent(subscriptionEvent('s-dup', 2))).action).toBe('stale');
    expect(await row(store.tables.budgets, 's-dup')).toEqual(before);
  });

  it('an older event delivered after a newer one is dropped', async () => {
    await applyBillingEvent(subscriptionEvent('s-order', 1));
    await applyBillingEvent(subscriptionEvent('s-order', 3, { status: 'canceled' }));
    expect((await applyBillingEvent(subscriptionEvent('s-order', 2))).action).toBe('stale');
    expect(await row(store.tables.budgets, 's-order')).toMatchObject({
      version: 3,
      status: 'canceled',
      total_budget: 3000,
    });
    expect(await row(store.tables.routingPolicies, 's-order')).toMatchObject({ version: 3, enabled: false });
  });

  it('an update arriving before its create still lands, and the late create is then dropped', async () => {
    await applyBillingEvent(subscriptionEvent('s-late', 2));
    expect((await applyBillingEvent(subscriptionEvent('s-late', 1))).action).toBe('stale');
    expect(await row(store.tables.budgets, 's-late')).toMatchObject({ version: 2, current_spend: 0 });
  });

  it('updates keep the spend the gateway has accumulated', async () => {
    await applyBillingEvent(subscriptionEvent('s-spend', 1));
    const { UpdateItemCommand } = await import('@aws-sdk/client-dynamodb');
    await store.client.send(
      new UpdateItemCommand({
        TableName: store.tables.budgets,
        Key: { tenant_id: { S: 'tenant-1' }, subscription_id: { S: 's-spend' } },
        UpdateExpression: 'SET current_spend = :s',
        ExpressionAttributeValues: { ':s': { N: '250' } },
      }),
    );
    await applyBillingEvent(subscriptionEvent('s-spend', 2));
    expect(await row(store.tables.budgets, 's-spend')).toMatchObject({
      version: 2,
      current_spend: 250,
      total_budget: 2000,
    });
  });

  it('a malformed event is an error (retried, then dead-lettered), not silently applied', async () => {
    await expect(applyBillingEvent({ type: 'subscription.created' })).rejects.toMatchObject({
      kind: 'validation',
    });
    const broken = { ...subscriptionEvent('s-bad', 1), data: {} };
    await expect(applyBillingEvent(broken)).rejects.toThrow(/subscription_id/);
    expect(await row(store.tables.budgets, 's-bad')).toBeUndefined();
  });
});

describe('usage totals on the budget row', () => {
  const price = {
    id: 'price-calls',
    plan_id: 'plan',
    currency: 'USD',
    model: 'per_unit' as const,
    metric: 'calls',
    unit_amount: null,
    unit_amount_decimal: '0.5',
    package_size: null,
    tiers: null,
    nickname: null,
    active: true,
    created_at: '2026-03-01T00:00:00.000Z',
    updated_at: '2026-03-01T00:00:00.000Z',
    version: 1,
  };
  const usageEvent = (subscriptionId: string, shard: number, quantity: string, version: number) => ({
    id: `usage-${subscriptionId}-${shard}-${version}`,
    type: 'usage.aggregated',
    schema_version: 1,
    occurred_at: '2026-03-05T00:00:00.000Z',
    entity_id: `${subscriptionId}#2026-03-01T00:00:00.000Z#calls#${shard}`,
    entity_version: version,
    tenant_id: 'tenant-1',
    data: {
      subscription_id: subscriptionId,
      tenant_id: 'tenant-1',
      metric: 'calls',
      period_start: '2026-03-01T00:00:00.000Z',
      period_end: '2026-04-01T00:00:00.000Z',
      shard,
      quantity,
      records: version,
      price,
    },
  });

  it('current_spend is the exact total over shards, rated once, whatever the delivery order', async () => {
    await applyBillingEvent(subscriptionEvent('s-usage', 1));
    await applyBillingEvent(usageEvent('s-usage', 0, '3', 1));
    await applyBillingEvent(usageEvent('s-usage', 1, '2.5', 1));
    await applyBillingEvent(usageEvent('s-usage', 0, '10', 2));
    // duplicate and out-of-order deliveries
    expect((await applyBillingEvent(usageEvent('s-usage', 0, '10', 2))).action).toBe('stale');
    expect((await applyBillingEvent(usageEvent('s-usage', 0, '3', 1))).action).toBe('stale');
    // 12.5 calls × 0.5 cents = 6.25 → 6
    expect(await row(store.tables.budgets, 's-usage')).toMatchObject({
      current_spend: 6,
      total_budget: 1000,
    });
  });

  it('concurrent shard updates all land', async () => {
    await applyBillingEvent(subscriptionEvent('s-race', 1));
    await Promise.all(
      Array.from({ length: 8 }, (_, shard) =>
        applyBillingEvent(usageEvent('s-race', shard, String(2 * (shard + 1)), 1)),
      ),
    );
    // 2+4+…+16 = 72 calls × 0.5 = 36 cents
    expect(await row(store.tables.budgets, 's-race')).toMatchObject({ current_spend: 36 });
  });
});
