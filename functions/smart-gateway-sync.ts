import type { EventBridgeEvent } from 'aws-lambda';
import { applyBillingEvent, type SyncOutcome } from '../shared/smart-gateway/apply-event.ts';

/** EventBridge rule target: one billing event per invocation; a throw makes EventBridge retry, then DLQ. */
export async function handler(event: EventBridgeEvent<string, unknown>): Promise<SyncOutcome> {
  return applyBillingEvent(event.detail);
}
