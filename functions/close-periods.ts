import type { ScheduledEvent } from 'aws-lambda';
import { config } from '../shared/config.ts';
import { logger } from '../shared/logger.ts';
import { count, METRIC, observedHandler } from '../shared/observability.ts';
import {
  type CloseReport,
  closeDuePeriods,
  schedulerAt,
} from '../shared/use-cases/invoicing/close-periods.ts';
import { resendUnsentRefunds } from '../shared/use-cases/invoicing/refund-outcomes.ts';

/**
 * Scheduled (hourly in AWS; locally a timer and `POST /_local/close-periods` invoke this same
 * handler): closes every ended billing period into a draft invoice, then dunning. It closes as of the
 * schedule's `time` (the moment the run was due, also when EventBridge retries it later), or now.
 */
export const handler = observedHandler(
  async (event: Partial<ScheduledEvent> | undefined): Promise<CloseReport> => {
    const at =
      typeof event?.time === 'string' && !Number.isNaN(Date.parse(event.time))
        ? new Date(event.time)
        : new Date();
    const report = await closeDuePeriods(config().tableName, at);
    // Refunds Stripe did not answer for are sent again (the same idempotency key: never twice).
    const refundsSent = await resendUnsentRefunds(config().tableName, schedulerAt(new Date())).catch(
      (error: unknown) => {
        logger.error('Could not send the unsent refunds again; the next run tries', { error });
        return 0;
      },
    );
    if (refundsSent > 0) logger.info('refunds sent again', { refunds_sent: refundsSent });
    if (report.failed > 0) logger.error('periods closed, some subscriptions failed', { ...report });
    else logger.info('periods closed', { ...report });
    count(METRIC.invoicesCreated, report.invoices_created);
    count(METRIC.subscriptionsPastDue, report.past_due);
    count(METRIC.subscriptionsRestored, report.restored);
    count(METRIC.periodCloseFailures, report.failed);
    count(METRIC.dueIndexRepaired, report.due_index_repaired);
    return report;
  },
);
