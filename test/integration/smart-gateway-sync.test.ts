import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { budgetRowOf } from '../../shared/domain/budget.ts';
import type { SubscriptionEventData } from '../../shared/events/catalog.ts';
import { type EventEnvelope, eventId } from '../../shared/events/envelope.ts';
import { applyBillingEvent } from '../../shared/smart-gateway/apply-event.ts';
import type { BudgetRow } from '../../shared/smart-gateway/budget-row.ts';
import { BudgetRepository } from '../../shared/store/budget-repository.ts';
import { budgetInputOf, projectBudget } from '../../shared/use-cases/budget-projection.ts';
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
    budget_policy: { enforcement: 'hard', thresholds: [] },
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

/** What the projector does with a subscription's queued events, then the row it publishes. */
async function project(subscriptionId: string, events: EventEnvelope[]) {
  const inputs = events.flatMap((event) => {
    const mapped = budgetInputOf(event);
    return mapped ? [mapped.input] : [];
  });
  const outcome = await projectBudget(
    store.tables.billing,
    subscriptionId,
    inputs,
    new Date('2026-03-06T00:00:00.000Z'),
  );
  const projection = await new BudgetRepository(store.tables.billing).get(subscriptionId);
  return { outcome, row: projection ? budgetRowOf(projection) : undefined };
}

const budgetEvent = (row: BudgetRow): EventEnvelope<BudgetRow> => ({
  id: eventId('budget.updated', `budget#${row.subscription_id}`, row.sequence),
  type: 'budget.updated',
  schema_version: 1,
  occurred_at: row.updated_at,
  entity_id: `budget#${row.subscription_id}`,
  entity_version: row.sequence,
  tenant_id: row.tenant_id,
  data: row,
});

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
const usageEvent = (
  subscriptionId: string,
  shard: number,
  quantity: string,
  version: number,
  metric = 'calls',
) =>
  ({
    id: `usage-${subscriptionId}-${metric}-${shard}-${version}`,
    type: 'usage.aggregated',
    schema_version: 1,
    occurred_at: '2026-03-05T00:00:00.000Z',
    entity_id: `${subscriptionId}#2026-03-01T00:00:00.000Z#${metric}#${shard}`,
    entity_version: version,
    tenant_id: 'tenant-1',
    data: {
      subscription_id: subscriptionId,
      tenant_id: 'tenant-1',
      metric,
      period_start: '2026-03-01T00:00:00.000Z',
      period_end: '2026-04-01T00:00:00.000Z',
      shard,
      quantity,
      records: version,
      price: { ...price, id: `price-${metric}`, metric },
    },
  }) as EventEnvelope;

describe('the budget projector against DynamoDB Local', () => {
  it('current_spend is the exact total over shards, rated once per metric, whatever the delivery order', async () => {
    const first = await project('s-usage', [
      usageEvent('s-usage', 0, '3', 1),
      subscriptionEvent('s-usage', 1),
      usageEvent('s-usage', 1, '2.5', 1),
    ]);
    expect(first.outcome).toBe('applied');
    const second = await project('s-usage', [
      usageEvent('s-usage', 0, '10', 2),
      usageEvent('s-usage', 0, '3', 1), // late and duplicate deliveries
      usageEvent('s-usage', 0, '10', 2),
    ]);
    // 12.5 calls × 0.5 cents = 6.25 → 6
    expect(second.row).toMatchObject({
      current_spend: 6,
      remaining: 994,
      total_budget: 1000,
      sequence: 2,
      version: 1,
    });
    expect((await project('s-usage', [usageEvent('s-usage', 1, '2.5', 1)])).outcome).toBe('unchanged');
  });

  it('200 metrics: the projection stays one small item, and each batch writes only the ledgers it touched', async () => {
    await project('s-wide', [subscriptionEvent('s-wide', 1)]);
    for (let m = 0; m < 200; m += 10) {
      await project(
        's-wide',
        Array.from({ length: 10 }, (_, i) => usageEvent('s-wide', (m + i) % 8, '100', 1, `metric-${m + i}`)),
      );
    }
    const items = (await store.allItems()).filter((item) => String(item.PK) === 'SUBSCRIPTION#s-wide');
    const projection = items.find((item) => item.SK === 'BUDGET')!;
    // 200 metrics × 100 calls × 0.5 cents
    expect(projection).toMatchObject({ spend: '10000', sequence: 21 });
    expect(JSON.stringify(projection).length).toBeLessThan(2000);
    expect(items.filter((item) => String(item.SK).startsWith('SPEND#'))).toHaveLength(200);
  });

  it('one message carrying 200 metrics is applied in transactions of at most 100 items, exactly', async () => {
    await project('s-burst', [subscriptionEvent('s-burst', 1)]);
    const burst = Array.from({ length: 200 }, (_, m) => usageEvent('s-burst', m % 8, '10', 1, `metric-${m}`));
    const { row: projected } = await project('s-burst', burst);
    // 200 metrics × 10 calls × 0.5 cents; one sequence step per transaction (90 ledgers each)
    expect(projected).toMatchObject({ current_spend: 1000, sequence: 4 });
  });

  it('two projectors on one subscription at once (never by design) both land, neither corrupts', async () => {
    await project('s-race', [subscriptionEvent('s-race', 1)]);
    await Promise.all(
      Array.from({ length: 4 }, (_, shard) =>
        project('s-race', [usageEvent('s-race', shard, String(2 * (shard + 1)), 1)]),
      ),
    );
    // 2+4+6+8 = 20 calls × 0.5 = 10 cents
    expect((await project('s-race', [])).row).toMatchObject({ current_spend: 10, sequence: 5 });
  });
});

describe('SmartGateway sync against DynamoDB Local', () => {
  it('budget.updated stores the row whole; an older or repeated sequence changes nothing', async () => {
    const { row: projected } = await project('s-row', [
      subscriptionEvent('s-row', 1),
      usageEvent('s-row', 0, '40', 1),
    ]);
    const newer = { ...projected!, sequence: 3, current_spend: 30, remaining: 970 };
    expect((await applyBillingEvent(budgetEvent(newer))).action).toBe('applied');
    expect((await applyBillingEvent(budgetEvent(projected!))).action).toBe('stale');
    expect((await applyBillingEvent(budgetEvent(newer))).action).toBe('stale');
    expect(await row(store.tables.budgets, 's-row')).toMatchObject({
      sequence: 3,
      current_spend: 30,
      remaining: 970,
      enforcement: 'hard',
    });
  });

  it('a row of the earlier release (usage attributes, no sequence) is replaced whole, usage attributes gone', async () => {
    const { PutItemCommand } = await import('@aws-sdk/client-dynamodb');
    await store.client.send(
      new PutItemCommand({
        TableName: store.tables.budgets,
        Item: {
          tenant_id: { S: 'tenant-1' },
          subscription_id: { S: 's-legacy' },
          current_spend: { N: '5' },
          version: { N: '1' },
          'usage#2026-03-01T00:00:00.000Z#calls#price-calls#0': { S: '10' },
        },
      }),
    );
    const { row: projected } = await project('s-legacy', [
      subscriptionEvent('s-legacy', 1),
      usageEvent('s-legacy', 0, '10', 1),
    ]);
    expect((await applyBillingEvent(budgetEvent(projected!))).action).toBe('applied');
    const stored = await row(store.tables.budgets, 's-legacy');
    expect(stored).toMatchObject({ current_spend: 5, sequence: 1 });
    expect(Object.keys(stored!).filter((key) => key.startsWith('usage#'))).toEqual([]);
  });

  it('subscription events keep the routing policy, newest version only', async () => {
    await applyBillingEvent(subscriptionEvent('s-order', 1));
    await applyBillingEvent(subscriptionEvent('s-order', 3, { status: 'canceled' }));
    expect((await applyBillingEvent(subscriptionEvent('s-order', 2))).action).toBe('stale');
    expect(await row(store.tables.routingPolicies, 's-order')).toMatchObject({
      version: 3,
      enabled: false,
      priority: 3,
    });
    // The budgets row is billing's to publish whole: subscription events do not write it.
    expect(await row(store.tables.budgets, 's-order')).toBeUndefined();
  });

  it('a malformed event is an error (retried, then dead-lettered), not silently applied', async () => {
    await expect(applyBillingEvent({ type: 'subscription.created' })).rejects.toMatchObject({
      kind: 'validation',
    });
    const broken = { ...subscriptionEvent('s-bad', 1), data: {} };
    await expect(applyBillingEvent(broken)).rejects.toThrow(/subscription_id/);
    const wrongSequence = {
      ...budgetEvent({
        subscription_id: 's-bad',
        tenant_id: 'tenant-1',
        sequence: 2,
        updated_at: '2026-03-01T00:00:00.000Z',
      } as BudgetRow),
      entity_version: 3,
    };
    await expect(applyBillingEvent(wrongSequence)).rejects.toThrow(/sequence/);
    expect(await row(store.tables.budgets, 's-bad')).toBeUndefined();
  });
});
