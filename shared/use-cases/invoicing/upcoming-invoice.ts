import type { PlanFees } from '../../domain/bills.ts';
import { discountedAndTaxed } from '../../domain/coupons.ts';
import { DomainError, notFound } from '../../domain/errors.ts';
import type { Charge, ProrationBehavior } from '../../domain/fees.ts';
import {
  applyCredit,
  type DraftFields,
  draftInvoice,
  type Invoice,
  pendingItemsOfPeriod,
} from '../../domain/invoice.ts';
import type { OneTimeCharge } from '../../domain/one-time.ts';
import { type Caller, canAccessCustomer } from '../../domain/principal.ts';
import { applyPatch, closeCurrentPeriod, type Subscription } from '../../domain/subscription.ts';
import { CustomersRepository } from '../../store/customers-repository.ts';
import { DiscountsRepository } from '../../store/discounts-repository.ts';
import { SubscriptionsRepository } from '../../store/subscriptions-repository.ts';
import { planFeesFor } from '../catalog.ts';
import { feesForChange, fieldOf, requestedItems, roomForPendingItems } from '../subscription-items.ts';
import { invoiceTaxRates } from '../tax-rates.ts';
import { NO_USAGE, periodUsage } from './period-usage.ts';

/** A proposed change to preview: as a PATCH would name it. */
export type ProposedChange = {
  plan_id?: string | undefined;
  items?: { plan_id: string; quantity?: number | undefined }[] | undefined;
  proration_behavior?: ProrationBehavior | undefined;
};

/** What the next invoice of a subscription would be, drafted now, with nothing written. */
export type UpcomingInvoice = Omit<DraftFields, 'id'> &
  Pick<
    Invoice,
    | 'subtotal'
    | 'tax'
    | 'total'
    | 'total_excluding_tax'
    | 'total_taxes'
    | 'tax_rates'
    | 'credit_applied'
    | 'credited_to_balance'
    | 'amount_due'
  > & {
    /** When that invoice would be drafted: the period's end, or now for a change invoiced at once. */
    drafted_at: string;
    /** The moment the preview was computed (usage counted up to it). */
    as_of: string;
    /** The subscription's version the preview was computed from (a PATCH with it applies the change previewed). */
    subscription_version: number;
  };

/**
 * The subscription's next invoice as it stands now (docs/invoicing.md, "Upcoming invoice"): the
 * close of its current period with the usage counted so far, rated, the fees the close bills, the
 * pending items (prorations, one-time items) and the customer's credit as finalizing would apply it.
 * With a proposed change (`plan_id`, or `items`, with `proration_behavior`) the same rules are run
 * on the subscription as the change would leave it: its prorations join the next invoice, or, when
 * the change is invoiced at once (another interval, `always_invoice`), that invoice is the next one.
 * Nothing is written, and the rules are the ones the close and the PATCH run, so when nothing
 * changes in between the close drafts exactly this invoice.
 */
export async function upcomingInvoice(
  tableName: string,
  subscriptionId: string,
  query: ProposedChange,
  caller: Caller,
): Promise<UpcomingInvoice> {
  const subscription = await new SubscriptionsRepository(tableName).get(subscriptionId, true);
  if (!subscription || !canAccessCustomer(caller.principal, subscription.customer_id)) {
    throw notFound('Subscription', subscriptionId);
  }
  if (subscription.status === 'canceled') {
    throw new DomainError(
      'conflict',
      `Subscription ${subscriptionId} is canceled: it has no upcoming invoice (its invoices are at GET /invoices?customer_id=${subscription.customer_id})`,
    );
  }
  const ended = new Date(subscription.current_period_end) <= caller.now;
  const change = query.plan_id !== undefined || query.items !== undefined;
  if (ended && change) {
    throw new DomainError(
      'conflict',
      `The period of subscription ${subscriptionId} ended at ${subscription.current_period_end} and is being closed; preview the change again once it is (the close runs hourly, and any PATCH closes it first)`,
    );
  }
  const [stored, balance, rates, discounts] = await Promise.all([
    new SubscriptionsRepository(tableName).pendingItems(subscriptionId),
    new CustomersRepository(tableName).creditBalance(subscription.customer_id, subscription.currency),
    invoiceTaxRates(
      tableName,
      { customer_id: subscription.customer_id, subscription_id: subscription.id },
      subscription,
    ),
    new DiscountsRepository(tableName).discountsOf(subscription.customer_id),
  ]);

  let current: Subscription = subscription;
  let pending: ((Charge | OneTimeCharge) & { id: string; created_at: string })[] = stored;
  let preview: { invoice: Invoice; draftedAt: Date } | undefined;
  // A change read every plan it involves: the close after it bills with the same fees.
  let changeFees: PlanFees | undefined;
  if (change) {
    const items = await requestedItems(tableName, subscription, {
      plan_id: query.plan_id,
      items: query.items,
    });
    changeFees = await feesForChange(tableName, subscription, items ?? []);
    const outcome = applyPatch(
      subscription,
      {
        fees: changeFees,
        items,
        itemField: fieldOf(query),
        prorationBehavior: query.proration_behavior,
      },
      caller.now,
    );
    if (outcome.bill) {
      // Invoiced at once: that invoice, with every pending item, is the next one.
      const usage = outcome.bill.billsUsage
        ? await periodUsage(tableName, subscription.id, subscription.current_period_start)
        : NO_USAGE;
      preview = {
        invoice: draftInvoice(
          subscription,
          outcome.bill,
          { ...usage, pendingItems: stored, version: outcome.subscription.version },
          caller.now,
        ),
        draftedAt: caller.now,
      };
    } else {
      // What the PATCH would refuse, the preview refuses too.
      if (outcome.pendingItems.length > 0)
        await roomForPendingItems(tableName, subscription, outcome.pendingItems.length);
      current = outcome.subscription;
      pending = [
        ...stored,
        ...outcome.pendingItems.map((item, i) => ({
          ...item,
          id: `preview_${i}`,
          created_at: caller.now.toISOString(),
        })),
      ];
    }
  }
  if (!preview) {
    const periodEnd = new Date(current.current_period_end);
    const [fees, usage] = await Promise.all([
      changeFees ??
        planFeesFor(
          tableName,
          current.items.map((item) => item.plan_id),
        ),
      periodUsage(tableName, current.id, current.current_period_start),
    ]);
    const { advanced, bill } = closeCurrentPeriod(current, fees, periodEnd);
    const taken = pendingItemsOfPeriod(pending, current.current_period_end);
    preview = {
      invoice: draftInvoice(
        current,
        bill,
        { ...usage, pendingItems: taken, version: advanced.version },
        periodEnd,
      ),
      draftedAt: periodEnd,
    };
  }
  const { invoice, draftedAt } = preview;
  // Discounted, taxed and credited as finalizing it now would.
  const { taxed } = discountedAndTaxed(invoice, invoice.lines, discounts, rates, caller.now);
  const credit = applyCredit(taxed.total, balance?.amount ?? 0);
  return {
    customer_id: invoice.customer_id,
    subscription_id: invoice.subscription_id,
    billing_reason: invoice.billing_reason,
    currency: invoice.currency,
    period_start: invoice.period_start,
    period_end: invoice.period_end,
    bills_usage: invoice.bills_usage,
    next_period_start: invoice.next_period_start,
    next_period_end: invoice.next_period_end,
    lines: taxed.lines,
    subtotal: taxed.subtotal,
    tax: taxed.tax,
    total: taxed.total,
    total_excluding_tax: taxed.total_excluding_tax,
    total_taxes: taxed.total_taxes,
    tax_rates: taxed.tax_rates,
    credit_applied: credit.credit_applied,
    credited_to_balance: credit.credited_to_balance,
    amount_due: credit.amount_due,
    drafted_at: draftedAt.toISOString(),
    as_of: caller.now.toISOString(),
    subscription_version: subscription.version,
  };
}
