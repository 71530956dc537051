import { createHash } from 'node:crypto';
import type { Price } from './catalog.ts';
import { DomainError } from './errors.ts';
import { assertMinorUnits } from './money.ts';
import { rateUsage } from './rating.ts';
import type { PendingItem, Subscription } from './subscription.ts';

/**
 * Invoices (SPEC §4, §7.4): draft → open (finalized: lines immutable, numbered) → paid | void |
 * uncollectible. A period is billed at its end: the plan's flat fee for the period (none for a
 * trial), every metered price rated once over the period's exact usage, and the pending proration
 * items. The total is exactly the sum of the lines.
 */
export type InvoiceStatus = 'draft' | 'open' | 'paid' | 'void' | 'uncollectible';

export type InvoiceLine = {
  kind: 'subscription_fee' | 'usage' | 'proration';
  description: string;
  /** Usage: the period's exact quantity; null for fees and prorations. */
  quantity: string | null;
  price_id: string | null;
  metric: string | null;
  /** Minor units; negative for credits. Rounded once, when the line was rated. */
  amount: number;
  period_start: string;
  period_end: string;
  pending_item_id: string | null;
};

export type Invoice = {
  id: string;
  customer_id: string;
  subscription_id: string;
  /** Per-customer sequence, assigned at finalization without gaps; null while draft. */
  number: string | null;
  status: InvoiceStatus;
  currency: string;
  period_start: string;
  period_end: string;
  /** The subscription's period that follows this one (rolled to on the SmartGateway when paid). */
  next_period_start: string;
  next_period_end: string;
  lines: InvoiceLine[];
  total: number;
  /** What the customer owes: the total, or 0 when credits exceed charges. */
  amount_due: number;
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
  paid_at: string | null;
  voided_at: string | null;
  marked_uncollectible_at: string | null;
  version: number;
};

/** The same subscription period always yields the same invoice id: it cannot be invoiced twice. */
export function invoiceIdFor(subscriptionId: string, periodStart: string): string {
  return `in_${createHash('sha256').update(`${subscriptionId}\n${periodStart}`).digest('hex').slice(0, 24)}`;
}

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

export type UsageTotal = { metric: string; quantity: string; price: Price };

export type LineInputs = {
  periodStart: string;
  periodEnd: string;
  /** The plan's flat prices for the period; empty for a trial period. */
  flatPrices: readonly Price[];
  usage: readonly UsageTotal[];
  pendingItems: readonly (PendingItem & { id: string })[];
};

export function buildLines(inputs: LineInputs): InvoiceLine[] {
  const { periodStart, periodEnd } = inputs;
  const fees = inputs.flatPrices.map(
    (price): InvoiceLine => ({
      kind: 'subscription_fee',
      description: price.nickname ?? 'Subscription fee',
      quantity: null,
      price_id: price.id,
      metric: null,
      amount: assertMinorUnits(price.unit_amount ?? 0),
      period_start: periodStart,
      period_end: periodEnd,
      pending_item_id: null,
    }),
  );
  const usage = [...inputs.usage]
    .sort((a, b) => a.metric.localeCompare(b.metric))
    .map(
      (total): InvoiceLine => ({
        kind: 'usage',
        description: `${total.metric}: ${total.quantity}`,
        quantity: total.quantity,
        price_id: total.price.id,
        metric: total.metric,
        amount: rateUsage(total.price, total.quantity),
        period_start: periodStart,
        period_end: periodEnd,
        pending_item_id: null,
      }),
    );
  const prorations = inputs.pendingItems.map(
    (item): InvoiceLine => ({
      kind: 'proration',
      description: item.description,
      quantity: null,
      price_id: null,
      metric: null,
      amount: assertMinorUnits(item.amount),
      period_start: item.period_start,
      period_end: item.period_end,
      pending_item_id: item.id,
    }),
  );
  return [...fees, ...usage, ...prorations];
}

/**
 * Which pending items an invoice for the period ending at `periodEnd` bills: those created before
 * the period ended. Items created later (a change made after the end) belong to the next invoice.
 */
export const pendingItemsOfPeriod = <T extends { created_at: string }>(
  items: readonly T[],
  periodEnd: string,
): T[] => items.filter((item) => item.created_at < periodEnd);

/**
 * The draft invoice of the period `closing` is in, with `lines`; `next` is the subscription after the
 * close (its period is the one the SmartGateway rolls to when the invoice is paid).
 */
export function draftInvoice(
  closing: Subscription,
  next: Subscription,
  lines: InvoiceLine[],
  now: Date,
): Invoice {
  const at = now.toISOString();
  return {
    id: invoiceIdFor(closing.id, closing.current_period_start),
    customer_id: closing.customer_id,
    subscription_id: closing.id,
    number: null,
    status: 'draft',
    currency: closing.currency,
    period_start: closing.current_period_start,
    period_end: closing.current_period_end,
    next_period_start: next.current_period_start,
    next_period_end: next.current_period_end,
    lines,
    ...totalsOf(lines),
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

export function totalsOf(lines: readonly InvoiceLine[]): { total: number; amount_due: number } {
  const total = assertMinorUnits(
    lines.reduce((sum, line) => sum + line.amount, 0),
    'invoice total',
  );
  return { total, amount_due: Math.max(total, 0) };
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

/** `INV-<first 8 of the customer id>-<sequence>`: readable, unique, gapless per customer. */
export const invoiceNumber = (customerId: string, sequence: number): string =>
  `INV-${customerId
    .replace(/[^A-Za-z0-9]/g, '')
    .slice(0, 8)
    .toUpperCase()}-${String(sequence).padStart(4, '0')}`;
