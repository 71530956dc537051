/**
 * The billing table's physical shape, used by both the CDK stack (infra/billing-table.ts) and the
 * local runtime (local/dynamodb-local.ts), so the two can never drift apart.
 *
 * Access patterns and the key builders that serve them live in ./keys.ts.
 */
export const BILLING_TABLE = {
  partitionKey: 'PK',
  sortKey: 'SK',
  /** Time-to-live attribute (epoch seconds): idempotency records and other expiring items. */
  ttlAttribute: 'expires_at',
  globalSecondaryIndexes: [
    /** GSI1 "by owner": children listed under their owner (e.g. a customer's subscriptions). */
    { indexName: 'GSI1', partitionKey: 'GSI1PK', sortKey: 'GSI1SK' },
    /** GSI2 "by type": every entity of one type in creation order (operator list endpoints). */
    { indexName: 'GSI2', partitionKey: 'GSI2PK', sortKey: 'GSI2SK' },
    /**
     * GSI3 "due", sparse: only what a scheduled job has to look at, by the moment it is due (a
     * subscription not canceled, by its period end; an open invoice with something due, by its due
     * date), so a run reads what is due and not every item of the type.
     */
    { indexName: 'GSI3', partitionKey: 'GSI3PK', sortKey: 'GSI3SK' },
  ],
  streamViewType: 'NEW_AND_OLD_IMAGES',
} as const;

/** SmartGateway-side cache tables, kept in sync from billing events. */
export const BUDGETS_TABLE = {
  partitionKey: 'tenant_id',
  sortKey: 'subscription_id',
} as const;

export const ROUTING_POLICIES_TABLE = {
  partitionKey: 'tenant_id',
  sortKey: 'subscription_id',
} as const;

export type KeyedTableDefinition = {
  partitionKey: string;
  sortKey: string;
  globalSecondaryIndexes?: readonly { indexName: string; partitionKey: string; sortKey: string }[];
};
