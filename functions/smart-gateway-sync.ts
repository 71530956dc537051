import type { EventBridgeEvent } from 'aws-lambda';
import { count, METRIC, observedHandler } from '../shared/observability.ts';
import { applyBillingEvent, type SyncOutcome } from '../shared/smart-gateway/apply-event.ts';

const OUTCOME_METRIC = {
  applied: METRIC.syncEventsApplied,
  ignored: METRIC.syncEventsIgnored,
  stale: METRIC.syncEventsStale,
} as const satisfies Record<SyncOutcome['action'], string>;

/** EventBridge rule target: one billing event per invocation; a throw makes EventBridge retry, then DLQ. */
export const handler = observedHandler(
  async (event: EventBridgeEvent<string, unknown>): Promise<SyncOutcome> => {
    const outcome = await applyBillingEvent(event.detail);
    count(OUTCOME_METRIC[outcome.action]);
    return outcome;
  },
);
