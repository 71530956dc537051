import { DomainError } from './errors.ts';
import type { DraftLine, Invoice, UsageTotal } from './invoice.ts';
import { rateUsage } from './rating.ts';
import type { TaxRate } from './tax.ts';

/**
 * Progressive (threshold) billing, as Stripe's billing thresholds and Lago's progressive billing
 * offer: a plan's usage thresholds are amounts of a period's rated usage at which the usage so far is
 * invoiced mid-period, so overuse is billed before it becomes bad debt.
 *
 * - A threshold is invoiced at most once per period. Usage that jumps past several thresholds at
 *   once is invoiced once, under the highest one it passed; the lower ones are then passed for good.
 * - A threshold invoice bills each (metric, price) at its rating of the quantity so far, less what
 *   the period's earlier threshold invoices billed for it.
 * - The period's closing invoice keeps its whole-period usage lines (quantities, records and digests
 *   exactly as without thresholds) and takes one credit line per earlier threshold invoice that stands
 *   (finalized, not void), for minus what that invoice billed for usage.
 *
 * Rounding guarantee: every amount is a difference of ratings that are each rounded once
 * (rating.ts), so a period's invoices together bill exactly rate(whole-period quantity) per (metric,
 * price), to the minor unit, however many thresholds were invoiced and whenever. Under volume tiers,
 * where more usage can rate lower, a threshold line or the close can be a credit.
 */

/** What a threshold invoice billed for one (metric, price). */
export type ThresholdUsageLine = { metric: string; price_id: string; quantity: string; amount: number };

/** An earlier threshold invoice of the period, as the close and later thresholds read it. */
export type ThresholdInvoice = {
  id: string;
  number: string | null;
  threshold: number;
  status: 'draft' | 'open' | 'paid' | 'void' | 'uncollectible';
  amount_due: number;
  lines: readonly ThresholdUsageLine[];
  /** The rates it was taxed at: its credit on the closing invoice is taxed back at them (invoice-tax.ts). */
  tax_rates?: readonly TaxRate[];
};

/** The threshold the usage rated so far (`spend`) calls an invoice for now, or undefined for none. */
export function thresholdToInvoice(
  thresholds: readonly number[],
  spend: number,
  invoiced: readonly ThresholdInvoice[],
): number | undefined {
  const passed = thresholds.filter((threshold) => threshold <= spend);
  if (passed.length === 0) return undefined;
  const highest = Math.max(...passed);
  const highestInvoiced = Math.max(0, ...invoiced.map((invoice) => invoice.threshold));
  return highest > highestInvoiced ? highest : undefined;
}

/** The invoices that bill usage: a void one billed nothing. */
const standing = (invoices: readonly ThresholdInvoice[]) =>
  invoices.filter((invoice) => invoice.status !== 'void');

/** What the standing invoices billed for each (metric, price) so far. */
function billedSoFar(invoices: readonly ThresholdInvoice[]): Map<string, number> {
  const billed = new Map<string, number>();
  for (const line of standing(invoices).flatMap((invoice) => invoice.lines)) {
    const key = `${line.metric}\n${line.price_id}`;
    billed.set(key, (billed.get(key) ?? 0) + line.amount);
  }
  return billed;
}

/**
 * A threshold invoice's lines: per (metric, price) of the usage so far, its rating less what the
 * standing earlier threshold invoices of the period billed for it. A (metric, price) with nothing
 * left to bill has no line.
 */
export function thresholdUsageLines(
  usage: readonly UsageTotal[],
  earlier: readonly ThresholdInvoice[],
): ThresholdUsageLine[] {
  const billed = billedSoFar(earlier);
  return [...usage]
    .sort((a, b) => a.metric.localeCompare(b.metric) || a.price.id.localeCompare(b.price.id))
    .map((total) => ({
      metric: total.metric,
      price_id: total.price.id,
      quantity: total.quantity,
      amount:
        rateUsage(total.price, total.quantity) - (billed.get(`${total.metric}\n${total.price.id}`) ?? 0),
    }))
    .filter((line) => line.amount !== 0);
}

/** One credit line of the closing invoice: minus what a standing threshold invoice billed. */
export type ThresholdCredit = {
  invoice_id: string;
  number: string | null;
  amount: number;
  tax_rates: readonly TaxRate[];
};

/** The closing invoice's credits, one per standing threshold invoice of the period, by threshold. */
export function thresholdCredits(invoices: readonly ThresholdInvoice[]): ThresholdCredit[] {
  const drafts = invoices.filter((invoice) => invoice.status === 'draft');
  if (drafts.length > 0) {
    // Threshold invoices are finalized when they are made; a draft one would be credited before it
    // is owed. The close waits for it rather than guess.
    throw new DomainError(
      'conflict',
      `Threshold invoice ${drafts[0]!.id} of this period is still a draft; finalize or void it first, then retry`,
    );
  }
  return standing(invoices)
    .sort((a, b) => a.threshold - b.threshold)
    .map((invoice) => ({
      invoice_id: invoice.id,
      number: invoice.number,
      amount: -invoice.lines.reduce((sum, line) => sum + line.amount, 0),
      tax_rates: invoice.tax_rates ?? [],
    }))
    .filter((credit) => credit.amount !== 0);
}

/** A threshold invoice as the close and later thresholds read it (its threshold_usage lines). */
export function thresholdInvoiceOf(invoice: Invoice): ThresholdInvoice {
  return {
    id: invoice.id,
    number: invoice.number,
    threshold: invoice.usage_threshold ?? 0,
    status: invoice.status,
    amount_due: invoice.amount_due,
    tax_rates: invoice.tax_rates ?? [],
    lines: invoice.lines
      .filter((line) => line.kind === 'threshold_usage')
      .map((line) => ({
        metric: line.metric ?? '',
        price_id: line.price_id ?? '',
        quantity: line.quantity ?? '0',
        amount: line.amount,
      })),
  };
}

const BLANK = {
  plan_id: null,
  pending_item_id: null,
  records: null,
  records_digest: null,
  records_kept_until: null,
} as const;

/** The lines of the invoice for `threshold`, billing usage of [periodStart, now). */
export function thresholdInvoiceLines(
  usage: readonly UsageTotal[],
  earlier: readonly ThresholdInvoice[],
  threshold: number,
  periodStart: string,
  now: string,
): DraftLine[] {
  return thresholdUsageLines(usage, earlier).map((line) => ({
    ...BLANK,
    kind: 'threshold_usage',
    description: `${line.metric}: ${line.quantity} so far (usage passed ${threshold})`,
    quantity: line.quantity,
    price_id: line.price_id,
    metric: line.metric,
    amount: line.amount,
    period_start: periodStart,
    period_end: now,
  }));
}

/** The credit lines of the invoice that bills the period's usage, [periodStart, periodEnd). */
export function thresholdCreditLines(
  invoices: readonly ThresholdInvoice[],
  periodStart: string,
  periodEnd: string,
): DraftLine[] {
  return thresholdCredits(invoices).map((credit) => ({
    ...BLANK,
    kind: 'threshold_credit',
    description: `Usage already invoiced on ${credit.number ?? credit.invoice_id}`,
    quantity: null,
    price_id: null,
    metric: null,
    amount: credit.amount,
    period_start: periodStart,
    period_end: periodEnd,
    credited_invoice_id: credit.invoice_id,
    credited_tax_rates: [...credit.tax_rates],
  }));
}
