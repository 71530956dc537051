import { type CouponTerms, discountApplies } from './coupon-terms.ts';
import { type Coupon, discountsOf, MAX_COUPONS_PER_INVOICE } from './discount.ts';
import { type DraftLine, type Invoice, type InvoiceLine, withLineIds } from './invoice.ts';
import { taxedInvoice } from './invoice-tax.ts';
import type { TaxRate } from './tax.ts';

/**
 * Coupons on invoices (docs/invoicing.md, "Discounts"). A coupon is redeemed by a customer (for all
 * its invoices) or for one of its subscriptions: the redemption is a CustomerDiscount. When an
 * invoice is finalized, each of its customer's discounts that covers it and whose duration has the
 * invoice's billing period (coupon-terms.ts) gives one `discount` line, oldest redemption first, by
 * the one discount rule (discount.ts) over its discountable lines (isDiscountable), shared over
 * them. The lines are then taxed on what the discounts left
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
  /** amount_off coupons: how much of the amount each period has used (it is off once per period). */
  amounts_off_used?: Record<string, number>;
  /** Set when it was removed: it discounts nothing finalized afterwards. */
  ended_at: string | null;
  created_at: string;
  updated_at: string;
  version: number;
};

/** Discounts a customer can hold at once (each one more conditional write when an invoice takes it). */
export const MAX_DISCOUNTS_PER_CUSTOMER = MAX_COUPONS_PER_INVOICE;

/**
 * The billing period an invoice belongs to, as durations count them: the subscription period it
 * closes (its period_start), or, for an invoice of no length (the sign-up invoice, a change invoiced
 * at once), the period it opens or is made in (next_period_start); a threshold invoice, a change's
 * invoice and the close of one period share it. A one-off invoice is a period of its own.
 */
export function discountPeriodOf(
  invoice: Pick<Invoice, 'id' | 'subscription_id' | 'period_start' | 'period_end' | 'next_period_start'>,
): string {
  if (invoice.subscription_id === null) return `invoice#${invoice.id}`;
  const instant = invoice.period_start === invoice.period_end && invoice.next_period_start !== null;
  return `${invoice.subscription_id}#${instant ? invoice.next_period_start : invoice.period_start}`;
}

/**
 * Whether a coupon discounts `line`: only what is never credited back later, so a discount can
 * never be refunded at full price. A period's usage (at its close), one-time purchases and a fee
 * billed in arrears (for time already past: its stretch starts before the invoice's end) are;
 * a fee billed in advance and prorations (the charges and credits of prepaid time) are not, since a
 * downgrade or a cancel credits prepaid time at the fee's full price (docs/invoicing.md, "Discounts").
 */
export function isDiscountable(
  line: Pick<InvoiceLine, 'kind' | 'period_start'>,
  invoice: Pick<Invoice, 'period_end'>,
): boolean {
  switch (line.kind) {
    case 'usage':
    case 'one_time':
      return true;
    case 'subscription_fee':
      return line.period_start < invoice.period_end;
    default:
      return false;
  }
}

/**
 * What the invoice's discounts give: a line per discount that gives anything, and each discount as
 * it is after this invoice (a period newly used, an amount off used up) for those that changed, and
 * as read for those that did not (the finalize checks they are still so: an ended one does not apply).
 */
export type InvoiceDiscounts = {
  lines: DraftLine[];
  changed: { before: CustomerDiscount; after: CustomerDiscount }[];
  unchanged: CustomerDiscount[];
};

/**
 * The discount lines of an invoice about to be finalized with `lines` (none of them discount lines),
 * by the rule of discount.ts on its discountable lines (isDiscountable; none on a threshold invoice):
 * each coupon takes its percent (or its amount, at most what is left of it for the period) of what
 * the ones before it left.
 */
export function invoiceDiscounts(
  invoice: Pick<
    Invoice,
    | 'id'
    | 'subscription_id'
    | 'period_start'
    | 'period_end'
    | 'next_period_start'
    | 'currency'
    | 'billing_reason'
  >,
  lines: readonly Pick<InvoiceLine, 'amount' | 'kind' | 'period_start'>[],
  discounts: readonly CustomerDiscount[],
  at: Date,
): InvoiceDiscounts {
  const period = discountPeriodOf(invoice);
  const seen = new Set<string>();
  const applying = [...discounts]
    .sort((a, b) => a.created_at.localeCompare(b.created_at) || a.id.localeCompare(b.id))
    .filter((discount) => {
      const applies =
        discount.ended_at === null &&
        !seen.has(discount.coupon.id) &&
        (discount.subscription_id === null || discount.subscription_id === invoice.subscription_id) &&
        // An amount off in another currency takes nothing off this invoice.
        (discount.coupon.amount_off === null || discount.coupon.currency === invoice.currency) &&
        discountApplies(discount.coupon, new Set(discount.discounted_periods), period);
      if (applies) seen.add(discount.coupon.id);
      return applies;
    })
    .slice(0, MAX_COUPONS_PER_INVOICE);
  // What the coupons take from: the discountable lines (none is negative). A threshold invoice is
  // not discounted: it bills usage at its price as it accrues, and the close, which credits what
  // the threshold invoices billed, discounts the period's whole usage (a volume tier can make later
  // usage rate lower, and a discount taken early would then be credited back at full price).
  const base =
    invoice.billing_reason === 'subscription_threshold'
      ? 0
      : lines.reduce((sum, line) => sum + (isDiscountable(line, invoice) ? line.amount : 0), 0);
  // An amount off's part still unused in this period.
  const coupons = applying
    .map((discount) => ({
      discount,
      coupon:
        discount.coupon.amount_off === null
          ? discount.coupon
          : {
              ...discount.coupon,
              amount_off: discount.coupon.amount_off - (discount.amounts_off_used?.[period] ?? 0),
            },
    }))
    .filter(({ coupon }) => coupon.amount_off === null || coupon.amount_off > 0);
  const amounts = discountsOf(
    base,
    invoice.currency,
    coupons.map(({ coupon }) => coupon),
  );
  const given = coupons.flatMap(({ discount }, i) =>
    amounts[i]!.amount > 0 ? [{ discount, amount: amounts[i]!.amount }] : [],
  );
  const changed = given.flatMap(({ discount, amount }) => {
    const newPeriod = !discount.discounted_periods.includes(period);
    if (!newPeriod && discount.coupon.amount_off === null) return [];
    const after: CustomerDiscount = {
      ...discount,
      discounted_periods: newPeriod ? [...discount.discounted_periods, period] : discount.discounted_periods,
      ...(discount.coupon.amount_off === null
        ? {}
        : {
            amounts_off_used: {
              ...(discount.amounts_off_used ?? {}),
              [period]: (discount.amounts_off_used?.[period] ?? 0) + amount,
            },
          }),
      updated_at: at.toISOString(),
      version: discount.version + 1,
    };
    return [{ before: discount, after }];
  });
  const changedIds = new Set(changed.map(({ before }) => before.id));
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
    changed,
    unchanged: given.map(({ discount }) => discount).filter((discount) => !changedIds.has(discount.id)),
  };
}

/**
 * What finalizing an invoice with `lines` makes of them, as finalization and the upcoming preview
 * both need it: its discount lines (invoiceDiscounts), then every line taxed at `rates` on what the
 * discounts left of it (invoice-tax.ts, shared over the discountable lines).
 */
export function discountedAndTaxed(
  invoice: Parameters<typeof invoiceDiscounts>[0],
  lines: readonly InvoiceLine[],
  discounts: readonly CustomerDiscount[],
  rates: readonly TaxRate[],
  at: Date,
): { taxed: ReturnType<typeof taxedInvoice>; discounts: Omit<InvoiceDiscounts, 'lines'> } {
  const charged = lines.filter((line) => line.kind !== 'discount');
  const { lines: discountLines, ...changes } = invoiceDiscounts(invoice, charged, discounts, at);
  const taxed = taxedInvoice(withLineIds(invoice.id, [...charged, ...discountLines]), rates, (line) =>
    isDiscountable(line, invoice),
  );
  return { taxed, discounts: changes };
}
