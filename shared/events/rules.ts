/**
 * EventBridge constants shared by the publisher, the CDK rule and the local bus, so the pattern the
 * SmartGateway sync rule matches in AWS is the very one the local bus evaluates.
 */
export const BILLING_EVENT_SOURCE = 'tcp.billing';

/**
 * Event types the SmartGateway's sync Lambda consumes: the budgets row whole (`budget.updated`, which
 * billing computes from subscription, usage and payment events) and the subscription events for the
 * routing policy.
 */
export const SMART_GATEWAY_DETAIL_TYPES = [
  'customer.created',
  'subscription.created',
  'subscription.updated',
  'budget.updated',
] as const;

export const SMART_GATEWAY_SYNC_RULE_PATTERN = {
  source: [BILLING_EVENT_SOURCE],
  'detail-type': [...SMART_GATEWAY_DETAIL_TYPES],
};

/** What billing's own threshold invoicer (progressive billing) reacts to. */
export const THRESHOLD_INVOICING_RULE_PATTERN = {
  source: [BILLING_EVENT_SOURCE],
  'detail-type': ['usage.threshold_reached'],
};
