import { config } from '../shared/config.ts';
import { logger } from '../shared/logger.ts';
import { count, METRIC, observedHandler } from '../shared/observability.ts';
import { type CloseReport, closeDuePeriods } from '../shared/use-cases/invoicing/close-periods.ts';

/** Scheduled (hourly in AWS, a timer locally): closes every ended billing period into a draft invoice. */
export const handler = observedHandler(async (): Promise<CloseReport> => {
  const report = await closeDuePeriods(config().tableName, new Date());
  logger.info('periods closed', { ...report });
  count(METRIC.invoicesCreated, report.invoices_created);
  count(METRIC.subscriptionsPastDue, report.past_due);
  count(METRIC.subscriptionsRestored, report.restored);
  count(METRIC.periodCloseFailures, report.failed);
  return report;
});
