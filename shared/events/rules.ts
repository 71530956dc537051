/**
 * EventBridge constants shared by the publisher, the CDK rule and the local bus, so the pattern the
 * SmartGateway sync rule matches in AWS is the very one the local bus evaluates.
 */
export const BILLING_EVENT_SOURCE = 'tcp.billing';

/** Event types the SmartGateway's sync Lambda consumes (SPEC §6, plus customer.created). */
export const SMART_GATEWAY_DETAIL_TYPES = [
  'customer.created',
  'subscription.created',
  'subscription.updated',
  'invoice.paid',
  'usage.aggregated',
] as const;

export const SMART_GATEWAY_SYNC_RULE_PATTERN = {
  source: [BILLING_EVENT_SOURCE],
  'detail-type': [...SMART_GATEWAY_DETAIL_TYPES],
};
