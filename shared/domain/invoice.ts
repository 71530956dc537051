import { createHash } from 'node:crypto';
import type { Bill, BillingReason } from './bills.ts';
import type { Price } from './catalog.ts';
import { DomainError } from './errors.ts';
import type { Charge } from './fees.ts';
import { type InvoiceRateTotal, untaxed } from './invoice-tax.ts';
import { assertMinorUnits } from './money.ts';
import type { OneTimeCharge } from './one-time.ts';
import { type ThresholdInvoice, thresholdCreditLines } from './progressive-billing.ts';
import { rateUsage } from './rating.ts';
import type { Subscription } from './subscription.ts';
import type { LineTax, TaxRate } from './tax.ts';

/**
 * Invoices (SPEC §4, §7.4): draft → open (finalized: lines immutable, numbered) → paid | void |
 * uncollectible. Each is drafted by one lifecycle moment (a Bill: subscribe, a period's close, a
 * change, a cancel) with that moment's fees and prorations, the subscription's pending items, and,
 * when it closes a period, every metered price rated once over the period's exact usage (recomputed
 * at finalization, when late usage can no longer arrive). The total is exactly the sum of the lines.
 */
export type InvoiceStatus = 'draft' | 'open' | 'paid' | 'void' | 'uncollectible';

export type InvoiceLine = {
  /** Stable on its invoice (lineIdFor): recomputing the lines at finalization keeps it. */
  id: string;
  /**
   * threshold_usage: on a threshold invoice, the usage of one (metric, price) so far less what earlier
   * threshold invoices of the period billed for it; threshold_credit: on the invoice that bills the
   * period's usage, minus what one threshold invoice of the period billed (shared/domain/progressive-billing.ts).
   */
  kind:
    | 'subscription_fee'
    | 'usage'
    | 'proration'
    | 'one_time'
    | 'threshold_usage'
    | 'threshold_credit'
    | 'discount';
  description: string;
  /** Usage: the period's exact quantity; one_time: the units sold; null for fees and prorations. */
  quantity: string | null;
  price_id: string | null;
  metric: string | null;
  /** Minor units; negative for credits. Rounded once, when the line was rated. */
  amount: number;
  /** The plan a fee or proration line is for; null for usage (see price_id). */
  plan_id: string | null;
  period_start: string;
  period_end: string;
  pending_item_id: string | null;
  /** Usage: how many records were counted into it; null for other kinds (and usage lines of old invoices). */
  records: number | null;
  /**
   * Usage: the digest of those records' idempotency keys (shared/domain/usage-digest.ts); null when
   * some were counted before digests existed, and for other kinds.
   */
  records_digest: string | null;
  /**
   * Usage: until when its records can be listed (the shortest retention any was counted with); null
   * for other kinds and for lines stored before it was recorded.
   */
  records_kept_until: string | null;
  /** one_time lines only: the price of one unit, minor units (amount = quantity × unit_amount). */
  unit_amount?: number;
  /** threshold_credit lines only: the threshold invoice whose usage this line credits. */
  credited_invoice_id?: string;
  /** threshold_credit lines only: the rates that invoice was taxed at (the credit is taxed back at them). */
  credited_tax_rates?: TaxRate[];
  /** discount lines only (coupons.ts): the coupon, and the customer's redemption of it. */
  coupon_id?: string;
  discount_id?: string;
  /** Each of the invoice's tax rates on this line (invoice-tax.ts); empty until it is finalized. */
  taxes: LineTax[];
  /** What credit notes gave back of this line so far (credit-note.ts); absent until one does. */
  credited_amount?: number;
  /** The quantity given back, when it was credited by quantity; null or absent otherwise. */
  credited_quantity?: string | null;
  /** The tax given back so far, rate by rate in the order of `taxes`. */
  credited_taxes?: number[];
};

/** A line before it has its id (lines are built first, then numbered on their invoice by withLineIds). */
export type DraftLine = Omit<InvoiceLine, 'id' | 'taxes'> & { id?: string; taxes?: LineTax[] };

export type Invoice = {
  id: string;
  customer_id: string;
  /** Null on a one-off invoice (`billing_reason: manual`): it belongs to no subscription. */
  subscription_id: string | null;
  /** Per-customer sequence, assigned at finalization without gaps; null while draft. */
  number: string | null;
  status: InvoiceStatus;
  /**
   * Which lifecycle moment drafted it (Stripe's names); `manual`: a one-off invoice;
   * `subscription_threshold`: usage invoiced mid-period when it passed a threshold (progressive billing).
   */
  billing_reason: BillingReason | 'manual' | 'subscription_threshold';
  /** subscription_threshold invoices only: the threshold (minor units of rated usage) it was made for. */
  usage_threshold?: number;
  currency: string;
  /** The stretch of the subscription this invoice closes (a zero-length one when it closes none). */
  period_start: string;
  period_end: string;
  /** Whether it bills the usage of [period_start, period_end) (recomputed when finalized). */
  bills_usage: boolean;
  /** The subscription period current once this is paid (the SmartGateway's); null on a final invoice. */
  next_period_start: string | null;
  next_period_end: string | null;
  lines: InvoiceLine[];
  /** Σ line amounts (invoice-tax.ts: inclusive taxes are inside them). */
  subtotal: number;
  /** Σ every line's taxes; 0 on a draft (taxed when finalized). */
  tax: number;
  /** What the lines bill, tax included: subtotal + the exclusive taxes. */
  total: number;
  /** total − tax. */
  total_excluding_tax: number;
  /** Tax per rate as applied, in the order the rates were set. */
  total_taxes: InvoiceRateTotal[];
  /** The rates it was taxed at, as they were when it was finalized. */
  tax_rates: TaxRate[];
  /** The customer's credit balance used for this invoice when it was finalized. */
  credit_applied: number;
  /** What a total below zero left on the customer's credit balance when finalized. */
  credited_to_balance: number;
  /** What the customer owes: the total less the credit applied and credit notes, never below 0. */
  amount_due: number;
  /** What credit notes took off what was due (credit-note.ts). */
  pre_payment_credit_notes_amount: number;
  /** What credit notes gave back beyond what was due: to the credit balance, or outside this service. */
  post_payment_credit_notes_amount: number;
  /** How many credit notes it has. */
  credit_note_count: number;
  amount_paid: number;
  due_date: string | null;
  /** The latest PaymentIntent tried for this invoice (the paying one once paid). */
  stripe_payment_intent_id: string | null;
  /** Collection attempts that ended in a decline; the next attempt is this + 1. */
  payment_attempts: number;
  /** The latest decline, until the invoice is paid. */
  last_payment_error: PaymentFailure | null;
  /** The collection attempt under way at Stripe, until it succeeds or is declined. */
  pending_payment: PendingPayment | null;
  created_at: string;
  updated_at: string;
  finalized_at: string | null;
  /**
   * The seller as the stage stated it (`invoiceIssuer`) when this was finalized: what its PDF and
   * hosted page print, whatever the setting says later. Absent on drafts and on invoices finalized
   * before it was kept (their documents print the stage's current one).
   */
  issuer?: string[];
  paid_at: string | null;
  voided_at: string | null;
  marked_uncollectible_at: string | null;
  version: number;
};

/**
 * A collection attempt that has started: its payment method is pinned (a retry of the attempt after
 * Stripe did not answer sends exactly the same request, so Stripe's idempotency replays it), and a
 * payment Stripe is still processing (a bank debit) blocks new attempts until its webhook arrives.
 */
export type PendingPayment = {
  attempt: number;
  payment_method: string;
  payment_intent_id: string | null;
  status: 'requested' | 'processing';
  since: string;
};

/** A declined collection attempt, as Stripe reported it (from the pay call or a webhook). */
export type PaymentFailure = {
  payment_intent_id: string;
  /** The attempt number the PaymentIntent was created for (its `billing_attempt` metadata). */
  attempt: number;
  /** Stripe's decline code (e.g. `insufficient_funds`) or error code. */
  code: string;
  failed_at: string;
};

/**
 * The invoice after a declined attempt, or undefined when the decline changes nothing: the invoice
 * is no longer payable (paid meanwhile, voided), or this decline, or a later one, is already recorded.
 * A decline of the attempt under way ends it (pending_payment), so the next pay is a new attempt.
 * Declines may arrive twice (pay response and webhook) and in any order; the result is the same.
 */
export function withPaymentFailure(invoice: Invoice, failure: PaymentFailure, at: Date): Invoice | undefined {
  if (invoice.status !== 'open' && invoice.status !== 'uncollectible') return undefined;
  const last = invoice.last_payment_error;
  const newer = !last || failure.attempt > last.attempt;
  const attempts = Math.max(invoice.payment_attempts, failure.attempt);
  const pending = invoice.pending_payment;
  const endsPending =
    pending !== null &&
    (pending.payment_intent_id === failure.payment_intent_id ||
      (failure.attempt > 0 && pending.attempt <= failure.attempt));
  if (!newer && attempts === invoice.payment_attempts && !endsPending) return undefined;
  return {
    ...invoice,
    payment_attempts: attempts,
    ...(newer ? { last_payment_error: failure, stripe_payment_intent_id: failure.payment_intent_id } : {}),
    ...(endsPending ? { pending_payment: null } : {}),
    updated_at: at.toISOString(),
    version: invoice.version + 1,
  };
}

export type UsageTotal = {
  metric: string;
  quantity: string;
  price: Price;
  records?: number;
  records_digest?: string | null;
  records_kept_until?: string | null;
};

/**
 * Which pending items an invoice closing a period that ends at `periodEnd` may still bill when it is
 * finalized: those created before that end and not yet on an invoice (items are normally taken when
 * the invoice is drafted; invoices drafted before that rule left theirs to finalization).
 */
export const pendingItemsOfPeriod = <T extends { created_at: string }>(
  items: readonly T[],
  periodEnd: string,
): T[] => items.filter((item) => item.created_at < periodEnd).slice(0, MAX_PENDING_ITEMS_PER_INVOICE);

/**
 * Pending items one invoice takes at most: each is one more item of the transaction that drafts
 * the invoice (DynamoDB allows 100). More than this (dozens of plan changes in one period) go on the
 * next invoice of the subscription.
 */
export const MAX_PENDING_ITEMS_PER_INVOICE = 80;

const LINE_KIND: Record<(Charge | OneTimeCharge)['kind'], InvoiceLine['kind']> = {
  fee: 'subscription_fee',
  used_time: 'subscription_fee',
  proration_credit: 'proration',
  proration_charge: 'proration',
  one_time: 'one_time',
};

/** One line per charge, with the pending item it came from (null when drafted with the invoice). */
export function chargeLines(charges: readonly ((Charge | OneTimeCharge) & { id?: string })[]): DraftLine[] {
  return charges.map((charge) => ({
    kind: LINE_KIND[charge.kind] ?? 'proration',
    description: charge.description,
    quantity: charge.kind === 'one_time' ? String(charge.quantity) : null,
    price_id: charge.kind === 'one_time' ? charge.price_id : null,
    metric: null,
    amount: assertMinorUnits(charge.amount),
    plan_id: charge.plan_id ?? null,
    period_start: charge.period_start,
    period_end: charge.period_end,
    pending_item_id: charge.id ?? null,
    records: null,
    records_digest: null,
    records_kept_until: null,
    ...(charge.kind === 'one_time' ? { unit_amount: charge.unit_amount } : {}),
  }));
}

/** "calls: 1502 × 0.04": what was used and how it was priced, as an invoice reader needs it. */
function usageDescription({ metric, quantity, price }: UsageTotal): string {
  switch (price.model) {
    case 'per_unit':
      return `${metric}: ${quantity} × ${price.unit_amount_decimal}`;
    case 'package':
      return `${metric}: ${quantity}, ${price.unit_amount_decimal} per ${price.package_size}`;
    case 'tiered_graduated':
      return `${metric}: ${quantity}, graduated tiers`;
    case 'tiered_volume':
      return `${metric}: ${quantity}, volume tiers`;
    default:
      return `${metric}: ${quantity}`;
  }
}

/** One line per (metric, price) of the period's usage, each rated once with its price. */
export function usageLines(
  usage: readonly UsageTotal[],
  periodStart: string,
  periodEnd: string,
): DraftLine[] {
  return [...usage]
    .sort((a, b) => a.metric.localeCompare(b.metric) || a.price.id.localeCompare(b.price.id))
    .map(
      (total): DraftLine => ({
        kind: 'usage',
        description: usageDescription(total),
        quantity: total.quantity,
        price_id: total.price.id,
        metric: total.metric,
        amount: rateUsage(total.price, total.quantity),
        plan_id: null,
        period_start: periodStart,
        period_end: periodEnd,
        pending_item_id: null,
        records: total.records ?? null,
        records_digest: total.records_digest ?? null,
        records_kept_until: total.records_kept_until ?? null,
      }),
    );
}

/**
 * What an invoice that bills a period's usage takes for it: each (metric, price) rated once over the
 * period, and one credit per threshold invoice of the period that stands (progressive-billing.ts).
 * Drafted with the invoice and recomputed, in place of the lines it made before, at finalization.
 */
export function periodUsageLines(
  inputs: { usage: readonly UsageTotal[]; thresholdInvoices?: readonly ThresholdInvoice[] },
  periodStart: string,
  periodEnd: string,
): DraftLine[] {
  return [
    ...usageLines(inputs.usage, periodStart, periodEnd),
    ...thresholdCreditLines(inputs.thresholdInvoices ?? [], periodStart, periodEnd),
  ];
}

/** The kinds of line periodUsageLines makes. */
export const isPeriodUsageLine = (line: Pick<InvoiceLine, 'kind'>): boolean =>
  line.kind === 'usage' || line.kind === 'threshold_credit';

/**
 * A line's id on its invoice, from what makes the line unique there: a usage line is its (metric,
 * price), a pending item's line that item, any other line its position (lines of a stored invoice
 * never move; finalization keeps the non-usage lines first, in order, with their ids).
 */
export function lineIdFor(invoiceId: string, line: DraftLine, position: number): string {
  const identity =
    line.kind === 'usage' || line.kind === 'threshold_usage'
      ? `${line.kind}\n${line.metric}\n${line.price_id}`
      : line.credited_invoice_id
        ? `credit\n${line.credited_invoice_id}`
        : line.discount_id
          ? `discount\n${line.discount_id}`
          : line.pending_item_id
            ? `pending\n${line.pending_item_id}`
            : `line\n${position}`;
  return `il_${createHash('sha256').update(`${invoiceId}\n${identity}`).digest('hex').slice(0, 24)}`;
}

/**
 * The lines with their ids (an id already there is kept), and the usage trace fields an invoice
 * stored before they existed lacks (null: not known, rather than a wrong count).
 */
export const withLineIds = (invoiceId: string, lines: readonly DraftLine[]): InvoiceLine[] =>
  lines.map((line, position) => ({
    ...line,
    id: line.id ?? lineIdFor(invoiceId, line, position),
    records: line.records ?? null,
    records_digest: line.records_digest ?? null,
    records_kept_until: line.records_kept_until ?? null,
    taxes: line.taxes ?? [],
  }));

/**
 * The id of the invoice a lifecycle moment drafts, derived from what makes the moment unique, so a
 * retried or concurrent attempt finds it there: the start of the period it closes (a period's close,
 * cancel now and a change of interval all close the current period, so only one of them can),
 * `create` for the subscribe invoice, the new version for an `always_invoice` change.
 */
export function invoiceIdFor(subscriptionId: string, moment: string): string {
  return `in_${createHash('sha256').update(`${subscriptionId}\n${moment}`).digest('hex').slice(0, 24)}`;
}

export function invoiceMomentOf(bill: Bill, subscriptionVersion: number): string {
  if (bill.reason === 'subscription_create') return 'create';
  return bill.billsUsage ? bill.period.start.toISOString() : `update#${subscriptionVersion}`;
}

/**
 * The draft invoice of `bill` for `subscription` (as it was before the moment), with the pending
 * items it takes and, when it closes a period, that period's usage so far. `version` is the
 * subscription's version after the moment (it keys an `always_invoice` draft).
 */
export function draftInvoice(
  subscription: Subscription,
  bill: Bill,
  inputs: {
    usage: readonly UsageTotal[];
    /** The period's threshold invoices (progressive-billing.ts): what they billed is credited. */
    thresholdInvoices?: readonly ThresholdInvoice[];
    pendingItems: readonly ((Charge | OneTimeCharge) & { id: string })[];
    version: number;
  },
  now: Date,
): Invoice {
  const periodStart = bill.period.start.toISOString();
  const periodEnd = bill.period.end.toISOString();
  const id = invoiceIdFor(subscription.id, invoiceMomentOf(bill, inputs.version));
  const lines = withLineIds(id, [
    ...chargeLines(inputs.pendingItems),
    ...chargeLines(bill.charges),
    ...(bill.billsUsage ? periodUsageLines(inputs, periodStart, periodEnd) : []),
  ]);
  return newDraft(
    {
      id,
      customer_id: subscription.customer_id,
      subscription_id: subscription.id,
      billing_reason: bill.reason,
      currency: subscription.currency,
      period_start: periodStart,
      period_end: periodEnd,
      bills_usage: bill.billsUsage,
      next_period_start: bill.nextPeriod?.start.toISOString() ?? null,
      next_period_end: bill.nextPeriod?.end.toISOString() ?? null,
      lines,
    },
    now,
  );
}

/** What a draft is made of: whose it is, the stretch it bills and its lines (the rest follows from them). */
export type DraftFields = Pick<
  Invoice,
  | 'id'
  | 'customer_id'
  | 'subscription_id'
  | 'billing_reason'
  | 'currency'
  | 'period_start'
  | 'period_end'
  | 'bills_usage'
  | 'next_period_start'
  | 'next_period_end'
  | 'lines'
>;

/** A draft invoice of these lines and stretch, created at `now`: totals from the lines, nothing paid. */
export function newDraft(fields: DraftFields, now: Date): Invoice {
  const at = now.toISOString();
  return {
    ...fields,
    number: null,
    status: 'draft',
    ...totalsOf(fields.lines),
    amount_paid: 0,
    due_date: null,
    stripe_payment_intent_id: null,
    payment_attempts: 0,
    last_payment_error: null,
    pending_payment: null,
    created_at: at,
    updated_at: at,
    finalized_at: null,
    paid_at: null,
    voided_at: null,
    marked_uncollectible_at: null,
    version: 1,
  };
}

/** A draft's figures: the total (exactly the sum of the lines, not taxed yet) and what is due, before any credit. */
export function totalsOf(
  lines: readonly Pick<InvoiceLine, 'amount'>[],
): ReturnType<typeof untaxed> &
  Pick<
    Invoice,
    | 'amount_due'
    | 'credit_applied'
    | 'credited_to_balance'
    | 'pre_payment_credit_notes_amount'
    | 'post_payment_credit_notes_amount'
    | 'credit_note_count'
  > {
  const total = assertMinorUnits(
    lines.reduce((sum, line) => sum + line.amount, 0),
    'invoice total',
  );
  return {
    ...untaxed(total),
    amount_due: Math.max(total, 0),
    credit_applied: 0,
    credited_to_balance: 0,
    pre_payment_credit_notes_amount: 0,
    post_payment_credit_notes_amount: 0,
    credit_note_count: 0,
  };
}

/**
 * The credit rule (docs/billing-rules.md, "Credits"), applied when an invoice is finalized: the
 * customer's credit balance in the invoice's currency pays what it can of a positive total; a
 * negative total owes nothing and adds to the balance. Nothing is lost: amount due − balance after
 * = total − balance before.
 */
export function applyCredit(
  total: number,
  balance: number,
): { credit_applied: number; credited_to_balance: number; amount_due: number; balance: number } {
  const credit_applied = Math.min(Math.max(balance, 0), Math.max(total, 0));
  const credited_to_balance = Math.max(-total, 0);
  return {
    credit_applied,
    credited_to_balance,
    amount_due: Math.max(total, 0) - credit_applied,
    balance: assertMinorUnits(balance - credit_applied + credited_to_balance, 'credit balance'),
  };
}

export type InvoiceAction = 'finalize' | 'pay' | 'void' | 'mark_uncollectible';

const ALLOWED: Record<InvoiceAction, readonly InvoiceStatus[]> = {
  finalize: ['draft'],
  pay: ['open', 'uncollectible'],
  void: ['draft', 'open', 'uncollectible'],
  mark_uncollectible: ['open'],
};

const NEXT: Record<InvoiceAction, InvoiceStatus> = {
  finalize: 'open',
  pay: 'paid',
  void: 'void',
  mark_uncollectible: 'uncollectible',
};

/** The invoice state machine: the status after `action`, or a 409 problem naming the status. */
export function nextInvoiceStatus(status: InvoiceStatus, action: InvoiceAction): InvoiceStatus {
  if (!ALLOWED[action].includes(status)) {
    throw new DomainError(
      'invalid-state-transition',
      `Cannot ${action.replace('_', ' ')} a ${status} invoice${status === 'paid' ? ': a paid invoice is final; issue a credit instead' : ''}`,
    );
  }
  return NEXT[action];
}

/** `<the customer's invoice prefix>-<sequence>`: unique across the stage, gapless per customer. */
export const invoiceNumber = (prefix: string, sequence: number): string =>
  `${prefix}-${String(sequence).padStart(4, '0')}`;
