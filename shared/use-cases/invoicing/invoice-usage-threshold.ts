import { invoiceThresholdsOf } from '../../domain/budget-policy.ts';
import { type Invoice, invoiceIdFor, newDraft, totalsOf, withLineIds } from '../../domain/invoice.ts';
import { type Caller, systemPrincipal } from '../../domain/principal.ts';
import { thresholdInvoiceLines, thresholdToInvoice } from '../../domain/progressive-billing.ts';
import { rateUsage } from '../../domain/rating.ts';
import { auditBy } from '../../store/audit.ts';
import { InvoicesRepository } from '../../store/invoices-repository.ts';
import { SubscriptionsRepository } from '../../store/subscriptions-repository.ts';
import { ThresholdInvoicesRepository } from '../../store/threshold-invoices-repository.ts';
import { changingConcurrently, LOST_RACE, retryOnLostRace } from '../optimistic.ts';
import { numberedWithCredit, settleIfNothingDue } from './finalize-invoice.ts';
import { periodUsage } from './period-usage.ts';

/** The system's principal for progressive billing (the bus target that reacts to usage.threshold_reached). */
export const THRESHOLD_BILLER = systemPrincipal('billing-thresholds');

export type ThresholdOutcome =
  | { outcome: 'invoiced'; invoice: Invoice }
  /** Nothing to invoice now, and why (the event is then done: the period's close bills the usage). */
  | { outcome: 'skipped'; reason: string };

/**
 * Progressive billing (docs/billing-rules.md, "Usage thresholds"): if the usage of the subscription's
 * current period, rated now from its counters, has passed an invoice threshold of its policy above
 * every threshold already invoiced this period, that usage so far is invoiced at once, less what the
 * period's earlier threshold invoices billed, and finalized in the same transaction (numbered, the
 * credit balance applied). The invoice that later bills the period's usage credits it.
 *
 * Triggered by `usage.threshold_reached`, but decides from the store alone, so a duplicate, late or
 * out-of-order event does nothing wrong: the invoice id is derived from (subscription, period,
 * threshold), and the transaction requires the subscription to be still in the period.
 */
export async function invoiceUsageThreshold(
  tableName: string,
  subscriptionId: string,
  caller: Caller,
): Promise<ThresholdOutcome> {
  const invoices = new InvoicesRepository(tableName);
  return retryOnLostRace(
    5,
    async (): Promise<ThresholdOutcome | typeof LOST_RACE> => {
      const subscription = await new SubscriptionsRepository(tableName).get(subscriptionId, true);
      if (!subscription) return skipped(`no subscription ${subscriptionId}`);
      if (subscription.status === 'canceled') return skipped('the subscription is canceled');
      if (new Date(subscription.current_period_end) <= caller.now)
        return skipped('the period has ended: its closing invoice bills the usage');
      const thresholds = invoiceThresholdsOf(subscription.budget_policy);
      if (thresholds.length === 0) return skipped('the subscription has no invoice thresholds');
      const periodStart = subscription.current_period_start;
      const { usage, thresholdInvoices } = await periodUsage(tableName, subscriptionId, periodStart);
      // One made earlier with nothing due (the credit balance paid it) whose settling did not happen
      // (a crash after it was written) is settled now, as finalizing it again would.
      for (const earlier of thresholdInvoices.filter((i) => i.status === 'open' && i.amount_due === 0)) {
        const invoice = await invoices.get(earlier.id);
        if (invoice) await settleIfNothingDue(tableName, invoice, caller, () => []);
      }
      const rated = usage.reduce((sum, total) => sum + BigInt(rateUsage(total.price, total.quantity)), 0n);
      const spend = Number(rated > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : rated);
      const threshold = thresholdToInvoice(thresholds, spend, thresholdInvoices);
      if (threshold === undefined) return skipped('no threshold above those invoiced has been passed');
      const at = caller.now.toISOString();
      const id = invoiceIdFor(subscriptionId, `threshold#${periodStart}#${threshold}`);
      const lines = withLineIds(
        id,
        thresholdInvoiceLines(usage, thresholdInvoices, threshold, periodStart, at),
      );
      // Under volume tiers more usage can rate lower: nothing more to bill then.
      if (totalsOf(lines).total <= 0)
        return skipped('the usage since the last threshold invoice adds nothing');
      const draft: Invoice = {
        ...newDraft(
          {
            id,
            customer_id: subscription.customer_id,
            subscription_id: subscriptionId,
            billing_reason: 'subscription_threshold',
            currency: subscription.currency,
            period_start: periodStart,
            period_end: at,
            bills_usage: false,
            next_period_start: null,
            next_period_end: null,
            lines,
          },
          caller.now,
        ),
        usage_threshold: threshold,
      };
      const { open, sequence, balanceItems } = await numberedWithCredit(tableName, draft, lines, caller);
      const outcome = await invoices.createFinalized(
        open,
        sequence,
        [
          auditBy(caller, 'invoice', id, 'invoice.created', null, draft),
          auditBy(caller, 'invoice', id, 'invoice.finalized', draft, open),
        ],
        [
          ...new ThresholdInvoicesRepository(tableName).createItems(
            open,
            subscriptionId,
            periodStart,
            Math.max(0, ...thresholdInvoices.map((i) => i.threshold)),
          ),
          ...balanceItems,
        ],
      );
      if (outcome === 'exists') return skipped(`invoice ${id} for threshold ${threshold} exists already`);
      // Another run invoiced a threshold meanwhile, the invoice counter or the credit balance moved, or
      // the subscription left the period: read again.
      if (outcome !== 'created') return LOST_RACE;
      const settled = await settleIfNothingDue(tableName, open, caller, () => []);
      return { outcome: 'invoiced', invoice: settled };
    },
    () => {
      throw changingConcurrently(`The invoices of subscription ${subscriptionId}`);
    },
  );
}

const skipped = (reason: string): ThresholdOutcome => ({ outcome: 'skipped', reason });
