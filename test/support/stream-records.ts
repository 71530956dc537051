import { marshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBRecord } from 'aws-lambda';

let sequence = 100;

/** A stream record shaped as Lambda delivers it, for an item written to the billing table. */
export function streamRecord(
  newItem: Record<string, unknown> | undefined,
  oldItem?: Record<string, unknown>,
): DynamoDBRecord {
  sequence++;
  const image = (item: Record<string, unknown>) => marshall(item, { removeUndefinedValues: true }) as never;
  return {
    eventID: `event-${sequence}`,
    eventName: newItem && oldItem ? 'MODIFY' : newItem ? 'INSERT' : 'REMOVE',
    eventSource: 'aws:dynamodb',
    dynamodb: {
      SequenceNumber: String(sequence).padStart(21, '0'),
      ApproximateCreationDateTime: 1_790_000_000,
      ...(newItem ? { NewImage: image(newItem) } : {}),
      ...(oldItem ? { OldImage: image(oldItem) } : {}),
      StreamViewType: 'NEW_AND_OLD_IMAGES',
    },
  };
}

export const customerItem = (id: string, version = 1) => ({
  PK: `CUSTOMER#${id}`,
  SK: 'PROFILE',
  item_type: 'customer',
  id,
  name: 'Acme',
  email: 'billing@acme.example',
  metadata: {},
  stripe_customer_id: null,
  created_at: '2026-11-01T00:00:00.000Z',
  updated_at: `2026-11-0${version}T00:00:00.000Z`,
  version,
});

export const subscriptionItem = (id: string, version = 1, overrides: Record<string, unknown> = {}) => ({
  PK: `SUBSCRIPTION#${id}`,
  SK: 'PROFILE',
  item_type: 'subscription',
  id,
  customer_id: 'cust-1',
  plan_id: 'plan-basic',
  status: 'active',
  currency: 'USD',
  interval: 'month',
  total_budget: 10_000,
  total_budget_overridden: false,
  routing_policy: null,
  billing_cycle_anchor: '2026-03-01T00:00:00.000Z',
  current_period_start: '2026-03-01T00:00:00.000Z',
  current_period_end: '2026-04-01T00:00:00.000Z',
  trial_end: null,
  cancel_at_period_end: false,
  canceled_at: null,
  created_at: '2026-03-01T00:00:00.000Z',
  updated_at: `2026-03-0${version}T00:00:00.000Z`,
  version,
  ...overrides,
});
