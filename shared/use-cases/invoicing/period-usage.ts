import type { UsageTotal } from '../../domain/invoice.ts';
import { type ThresholdInvoice, thresholdInvoiceOf } from '../../domain/progressive-billing.ts';
import { ThresholdInvoicesRepository } from '../../store/threshold-invoices-repository.ts';
import { UsageRepository } from '../../store/usage-repository.ts';

/**
 * What an invoice billing a subscription period's usage is made of: the period's usage totals, and
 * its threshold invoices (progressive billing), whose usage it credits. Read together, for a draft,
 * a preview and the finalization (which reads them again, once the period is closed to usage).
 */
export async function periodUsage(
  tableName: string,
  subscriptionId: string,
  periodStart: string,
): Promise<{ usage: UsageTotal[]; thresholdInvoices: ThresholdInvoice[] }> {
  const [usage, thresholdInvoices] = await Promise.all([
    new UsageRepository(tableName).aggregates(subscriptionId, periodStart),
    new ThresholdInvoicesRepository(tableName).ofPeriod(subscriptionId, periodStart),
  ]);
  return { usage, thresholdInvoices: thresholdInvoices.map(thresholdInvoiceOf) };
}

/** No usage and no threshold invoice: what an invoice that bills no usage takes. */
export const NO_USAGE = { usage: [], thresholdInvoices: [] } as const;
