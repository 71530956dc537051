import { config } from '../shared/config.ts';
import { logger } from '../shared/logger.ts';
import { type CloseReport, closeDuePeriods } from '../shared/use-cases/invoicing.ts';

/** Scheduled (hourly in AWS, a timer locally): closes every ended billing period into a draft invoice. */
export async function handler(): Promise<CloseReport> {
  const report = await closeDuePeriods(config().tableName, new Date());
  logger.info('periods closed', { ...report });
  return report;
}
