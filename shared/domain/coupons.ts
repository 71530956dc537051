import { type CouponTerms, discountApplies } from './coupon-terms.ts';
import { type Coupon, discountsOf, MAX_COUPONS_PER_INVOICE } from './discount.ts';
import type { DraftLine, Invoice, InvoiceLine } from './invoice.ts';

/**
 * Coupons on invoices (docs/invoicing.md, "Discounts"). A coupon is redeemed by a customer (for all
 * its invoices) or for one of its subscriptions: the redemption is a CustomerDiscount. When an
 * invoice is finalized, each of its customer's discounts that covers it and whose duration has the
 * invoice's billing period (coupon-terms.ts) gives one `discount` line, oldest redemption first, by
 * the one discount rule (discount.ts) over the invoice's subtotal net of its credits (a credit
 * invoice takes none), shared over its charge lines (its positive ones). The lines are then taxed on what the discounts left
 * (invoice-tax.ts). A discount that took more than zero records the period as discounted.
 */
export type CouponResource = Coupon &
  CouponTerms & {
    /** Redemptions so far (counted in the same write as each redemption, against max_redemptions). */
    times_redeemed: number;
    active: boolean;
    created_at: string;
    updated_at: string;
    version: number;
  };

/** A coupon redeemed: the coupon's terms as they were then, and the billing periods it has discounted. */
export type CustomerDiscount = {
  id: string;
  customer_id: string;
  /** The one subscription whose invoices it discounts; null: every invoice of the customer. */
  subscription_id: string | null;
  coupon: Coupon & CouponTerms;
  /** Ids of the billing periods it has discounted (discountPeriodOf), oldest first. */
  discounted_periods: string[];
  /** Set when it was removed: it discounts nothing finalized afterwards. */
  ended_at: string | null;
  created_at: string;
  updated_at: string;
  version: number;
};

/** Discounts a customer can hold at once (each one more conditional write when an invoice takes it). */
export const MAX_DISCOUNTS_PER_CUSTOMER = MAX_COUPONS_PER_INVOICE;

/**
 * The billing period an invoice belongs to, as durations count them: a subscription's period (by
 * its start: every invoice of that period shares it), or, for a one-off invoice, the invoice itself.
 */
export const discountPeriodOf = (
  invoice: Pick<Invoice, 'id' | 'subscription_id' | 'period_start'>,
): string =>
  invoice.subscription_id === null
    ? `invoice#${invoice.id}`
    : `${invoice.subscription_id}#${invoice.period_start}`;

/** What the invoice's discounts give: a line per discount above zero, and the discounts that newly used the period. */
export type InvoiceDiscounts = { lines: DraftLine[]; periodUsedBy: CustomerDiscount[] };

/** The discount lines of an invoice about to be finalized with `lines` (none of them discount lines). */
export function invoiceDiscounts(
  invoice: Pick<Invoice, 'id' | 'subscription_id' | 'period_start' | 'period_end' | 'currency'>,
  lines: readonly Pick<InvoiceLine, 'amount' | 'kind'>[],
  discounts: readonly CustomerDiscount[],
): InvoiceDiscounts {
  const period = discountPeriodOf(invoice);
  const applying = [...discounts]
    .filter(
      (discount) =>
        discount.ended_at === null &&
        (discount.subscription_id === null || discount.subscription_id === invoice.subscription_id) &&
        discountApplies(discount.coupon, new Set(discount.discounted_periods), period),
    )
    .sort((a, b) => a.created_at.localeCompare(b.created_at) || a.id.localeCompare(b.id));
  // What the coupons take a share of: the invoice's lines net of its credits (a threshold credit is
  // usage an earlier invoice billed, and discounted, already), never below zero.
  const discountable = Math.max(
    0,
    lines.reduce((sum, line) => sum + (line.kind === 'discount' ? 0 : line.amount), 0),
  );
  const amounts = discountsOf(
    discountable,
    invoice.currency,
    applying.map((discount) => discount.coupon),
  );
  const given = applying.flatMap((discount, i) =>
    amounts[i]!.amount > 0 ? [{ discount, amount: amounts[i]!.amount }] : [],
  );
  return {
    lines: given.map(({ discount, amount }) => ({
      kind: 'discount',
      description: `${discount.coupon.name} (${discount.coupon.percent_off !== null ? `${discount.coupon.percent_off} % off` : `${discount.coupon.amount_off} off`})`,
      quantity: null,
      price_id: null,
      metric: null,
      amount: -amount,
      plan_id: null,
      period_start: invoice.period_start,
      period_end: invoice.period_end,
      pending_item_id: null,
      records: null,
      records_digest: null,
      records_kept_until: null,
      coupon_id: discount.coupon.id,
      discount_id: discount.id,
    })),
    periodUsedBy: given
      .map(({ discount }) => discount)
      .filter((discount) => !discount.discounted_periods.includes(period)),
  };
}

/** The discount after it discounted `period`. */
export const withDiscountedPeriod = (
  discount: CustomerDiscount,
  period: string,
  at: Date,
): CustomerDiscount => ({
  ...discount,
  discounted_periods: [...discount.discounted_periods, period],
  updated_at: at.toISOString(),
  version: discount.version + 1,
});
