import { describe, expect, it } from 'vitest';
import { EventEnvelopeSchema } from '../../../shared/events/envelope.ts';
import { coalesceStateEvents, eventsFromStreamRecord } from '../../../shared/events/stream-mapping.ts';
import { customerItem, streamRecord, subscriptionItem } from '../../support/stream-records.ts';

describe('stream record → events', () => {
  it('a new customer item becomes one versioned customer.created event', () => {
    const [event, ...rest] = eventsFromStreamRecord(streamRecord(customerItem('c1')));
    expect(rest).toEqual([]);
    expect(EventEnvelopeSchema.parse(event)).toMatchObject({
      type: 'customer.created',
      schema_version: 1,
      entity_id: 'c1',
      entity_version: 1,
      tenant_id: 'c1',
      occurred_at: '2026-11-01T00:00:00.000Z',
      data: { id: 'c1', email: 'billing@acme.example', stripe_customer_id: null },
    });
  });

  it('a changed customer becomes customer.updated carrying the new version', () => {
    const [event] = eventsFromStreamRecord(streamRecord(customerItem('c1', 2), customerItem('c1', 1)));
    expect(event).toMatchObject({ type: 'customer.updated', entity_version: 2 });
  });

  it('the same record always yields the same event id, and another version another id', () => {
    const first = eventsFromStreamRecord(streamRecord(customerItem('c1')))[0]!;
    const again = eventsFromStreamRecord(streamRecord(customerItem('c1')))[0]!;
    const later = eventsFromStreamRecord(streamRecord(customerItem('c1', 2), customerItem('c1')))[0]!;
    expect(again.id).toBe(first.id);
    expect(later.id).not.toBe(first.id);
  });

  it('audit entries, idempotency records, removals and unchanged versions publish nothing', () => {
    expect(
      eventsFromStreamRecord(streamRecord({ PK: 'CUSTOMER#c1', SK: 'AUDIT#x', item_type: 'audit' })),
    ).toEqual([]);
    expect(
      eventsFromStreamRecord(streamRecord({ PK: 'IDEMPOTENCY#x', SK: 'RESPONSE', item_type: 'idempotency' })),
    ).toEqual([]);
    expect(eventsFromStreamRecord(streamRecord(undefined, customerItem('c1')))).toEqual([]);
    expect(eventsFromStreamRecord(streamRecord(customerItem('c1', 3), customerItem('c1', 3)))).toEqual([]);
  });
  it('a fill-in of due keys (GSI3, same version) publishes nothing for a subscription or an invoice', () => {
    const dueKeys = { GSI3PK: 'DUE#subscription#active', GSI3SK: '2026-04-01T00:00:00.000Z#s1' };
    const subscription = subscriptionItem('s1', 4);
    expect(eventsFromStreamRecord(streamRecord({ ...subscription, ...dueKeys }, subscription))).toEqual([]);
    const paid = {
      PK: 'INVOICE#in_1',
      SK: 'PROFILE',
      item_type: 'invoice',
      id: 'in_1',
      status: 'paid',
      version: 3,
    };
    const indexed = { ...paid, GSI3PK: 'DUE#invoice', GSI3SK: '2026-04-15T00:00:00.000Z#in_1' };
    expect(eventsFromStreamRecord(streamRecord(paid, indexed))).toEqual([]);
  });
});

describe('subscription stream records → events', () => {
  it('a new subscription becomes subscription.created carrying the budget row fields', () => {
    const [event] = eventsFromStreamRecord(streamRecord(subscriptionItem('s1')));
    expect(event).toMatchObject({
      type: 'subscription.created',
      entity_id: 's1',
      entity_version: 1,
      tenant_id: 'cust-1',
      data: {
        subscription_id: 's1',
        tenant_id: 'cust-1',
        plan_id: 'plan-basic',
        total_budget: 10_000,
        period_start: '2026-03-01T00:00:00.000Z',
        period_end: '2026-04-01T00:00:00.000Z',
        status: 'active',
        changes: [],
      },
    });
  });

  it('a changed subscription becomes subscription.updated naming what changed', () => {
    const before = subscriptionItem('s1', 1);
    const after = subscriptionItem('s1', 2, { plan_id: 'plan-pro', total_budget: 50_000 });
    const [event] = eventsFromStreamRecord(streamRecord(after, before));
    expect(event).toMatchObject({ type: 'subscription.updated', entity_version: 2 });
    // An image written before items existed holds its one plan as its one item.
    expect(event!.data).toMatchObject({ items: [{ plan_id: 'plan-pro', quantity: 1 }] });
    expect(event!.data.changes).toEqual(['plan_id', 'items', 'total_budget']);
    // A quantity change alone is a change of items.
    const seats = (quantity: number) =>
      subscriptionItem('s1', 2 + quantity, {
        items: [
          { plan_id: 'plan-pro', quantity: 1 },
          { plan_id: 'plan-seats', quantity },
        ],
      });
    const [requantified] = eventsFromStreamRecord(streamRecord(seats(3), seats(2)));
    expect(requantified!.data.changes).toEqual(['items']);
  });

  it('a pending invoice item or audit entry beside a subscription publishes nothing', () => {
    expect(
      eventsFromStreamRecord(
        streamRecord({ PK: 'SUBSCRIPTION#s1', SK: 'PENDING_ITEM#x', item_type: 'pending_item' }),
      ),
    ).toEqual([]);
  });
});

describe('usage aggregate stream records → events', () => {
  const aggregate = (version: number, quantity: number) => ({
    PK: 'USAGE_AGG#s1#3',
    SK: '2026-03-01T00:00:00.000Z#calls',
    item_type: 'usage_aggregate',
    subscription_id: 's1',
    customer_id: 'cust-1',
    metric: 'calls',
    period_start: '2026-03-01T00:00:00.000Z',
    period_end: '2026-04-01T00:00:00.000Z',
    shard: 3,
    quantity,
    record_count: version,
    version,
    price: { id: 'p1', model: 'per_unit' },
    updated_at: '2026-03-02T00:00:00.000Z',
  });

  it('a shard change becomes usage.aggregated with the exact quantity text', () => {
    const record = streamRecord(aggregate(2, 7));
    (record.dynamodb!.NewImage as Record<string, { N: string }>).quantity = { N: '12345678901234.000001' };
    const [event] = eventsFromStreamRecord(record);
    expect(event).toMatchObject({
      type: 'usage.aggregated',
      entity_version: 2,
      tenant_id: 'cust-1',
      data: {
        subscription_id: 's1',
        metric: 'calls',
        shard: 3,
        quantity: '12345678901234.000001',
        price: { id: 'p1' },
      },
    });
  });

  it('several changes of one shard in a batch coalesce into the newest; other events pass in order', () => {
    const events = [
      ...eventsFromStreamRecord(streamRecord(aggregate(1, 1))),
      ...eventsFromStreamRecord(streamRecord(customerItem('c9'))),
      ...eventsFromStreamRecord(streamRecord(aggregate(3, 9), aggregate(2, 4))),
      ...eventsFromStreamRecord(streamRecord(aggregate(2, 4), aggregate(1, 1))),
    ];
    const kept = coalesceStateEvents(events);
    expect(kept.map((e) => [e.type, e.entity_version])).toEqual([
      ['customer.created', 1],
      ['usage.aggregated', 3],
    ]);
  });
});

describe('large numbers in stream images', () => {
  it('a usage total beyond 2^53 with a fraction still maps, its quantity kept exact', () => {
    const record = streamRecord({
      PK: 'USAGE_AGG#s1#0',
      SK: 'p#calls#price',
      item_type: 'usage_aggregate',
      subscription_id: 's1',
      customer_id: 'c1',
      metric: 'calls',
      period_start: 'p',
      period_end: 'q',
      shard: 0,
      quantity: 1,
      record_count: 1,
      version: 7,
      price: { id: 'price' },
    });
    (record.dynamodb!.NewImage as Record<string, { N: string }>).quantity = { N: '9007199254740993.5' };
    const [event] = eventsFromStreamRecord(record);
    expect(event).toMatchObject({ entity_version: 7, data: { quantity: '9007199254740993.5', shard: 0 } });
  });
});

describe('budget projection stream records → usage.threshold_reached', () => {
  const projectionItem = (
    sequence: number,
    spend: string,
    invoiceThreshold: number | null,
    periodStart: string,
  ) => ({
    PK: 'SUBSCRIPTION#s1',
    SK: 'BUDGET',
    item_type: 'budget',
    subscription_id: 's1',
    tenant_id: 'c1',
    plan_id: 'plan-basic',
    total_budget: 100_000,
    currency: 'USD',
    status: 'active',
    cancel_at_period_end: false,
    policy: { enforcement: 'hard', thresholds: [], invoice_thresholds: [1_000, 5_000] },
    version: 1,
    period_start: periodStart,
    period_end: '2026-12-01T00:00:00.000Z',
    spend,
    crossed: [],
    invoice_threshold: invoiceThreshold,
    usage_at: periodStart,
    projected_spend: null,
    projected_exhaustion_at: null,
    last_paid_invoice_id: null,
    sequence,
    updated_at: '2026-11-02T00:00:00.000Z',
  });
  const reached = (newItem: Record<string, unknown>, oldItem?: Record<string, unknown>) =>
    eventsFromStreamRecord(streamRecord(newItem, oldItem)).filter(
      (e) => e.type === 'usage.threshold_reached',
    );
  const NOV = '2026-11-01T00:00:00.000Z';

  it('announces a threshold once, when the projection first passes it, for the highest passed', () => {
    const [event, ...rest] = reached(
      projectionItem(2, '6000', 5_000, NOV),
      projectionItem(1, '10', null, NOV),
    );
    expect(rest).toEqual([]);
    expect(event).toMatchObject({
      entity_id: `usage-threshold#s1#${NOV}#5000`,
      data: { subscription_id: 's1', threshold: 5_000, current_spend: 6_000, period_start: NOV },
    });
    expect(reached(projectionItem(3, '6500', 5_000, NOV), projectionItem(2, '6000', 5_000, NOV))).toEqual([]);
  });

  it('a new period announces again; a projection stored before thresholds existed announces nothing', () => {
    const dec = '2026-12-01T00:00:00.000Z';
    expect(
      reached(projectionItem(4, '1200', 1_000, dec), projectionItem(3, '6500', 5_000, NOV)),
    ).toHaveLength(1);
    const { invoice_threshold: _, ...old } = projectionItem(2, '6000', null, NOV);
    expect(reached(old, projectionItem(1, '10', null, NOV))).toEqual([]);
  });
});
