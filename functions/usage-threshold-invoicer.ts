import type { EventBridgeEvent } from 'aws-lambda';
import { z } from 'zod';
import { config } from '../shared/config.ts';
import { EventEnvelopeSchema } from '../shared/events/envelope.ts';
import { logger } from '../shared/logger.ts';
import { observedHandler } from '../shared/observability.ts';
import {
  invoiceUsageThreshold,
  THRESHOLD_BILLER,
  type ThresholdOutcome,
} from '../shared/use-cases/invoicing/invoice-usage-threshold.ts';

/** What the invoicer reads of `usage.threshold_reached` (UsageThresholdReachedEventData). */
const ThresholdReachedSchema = z.object({ subscription_id: z.string().min(1), threshold: z.int() });

/**
 * EventBridge rule target for `usage.threshold_reached`: invoices the subscription's usage so far
 * (progressive billing). One event per invocation; a throw makes EventBridge retry, then DLQ. The
 * use case decides from the store, so a duplicate or late event invoices nothing twice.
 */
export const handler = observedHandler(
  async (event: EventBridgeEvent<string, unknown>): Promise<ThresholdOutcome> => {
    const envelope = EventEnvelopeSchema.parse(event.detail);
    // A malformed event fails loudly (retried, then the DLQ), never as a quiet skip.
    const data = ThresholdReachedSchema.parse(envelope.data);
    // Never before the event it answers (the local clock can run ahead of the machine's).
    const now = new Date(Math.max(Date.now(), Date.parse(envelope.occurred_at)));
    const outcome = await invoiceUsageThreshold(config().tableName, data.subscription_id, {
      principal: THRESHOLD_BILLER,
      requestId: envelope.id,
      now,
    });
    logger.info('usage threshold', {
      subscription_id: data.subscription_id,
      threshold: data.threshold,
      ...(outcome.outcome === 'invoiced'
        ? { invoice_id: outcome.invoice.id, number: outcome.invoice.number }
        : { skipped: outcome.reason }),
    });
    return outcome;
  },
);
