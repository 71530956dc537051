import type { Customer } from '../domain/customer.ts';

/**
 * Every event type billing publishes, with its current schema version. A breaking change to an
 * event's `data` bumps its version; consumers switch on (type, schema_version).
 */
export const EVENT_SCHEMA_VERSIONS = {
  'customer.created': 1,
  'customer.updated': 1,
} as const;

export type BillingEventType = keyof typeof EVENT_SCHEMA_VERSIONS;

export type CustomerEventData = Pick<Customer, 'id' | 'name' | 'email' | 'stripe_customer_id' | 'created_at'>;
