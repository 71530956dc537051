import { periodContaining } from '../domain/billing-period.ts';
import type { Price } from '../domain/catalog.ts';
import { DomainError, notFound } from '../domain/errors.ts';
import {
  buildLines,
  type Invoice,
  invoiceIdFor,
  invoiceNumber,
  nextInvoiceStatus,
  type PaymentFailure,
  type PendingPayment,
  totalsOf,
  withPaymentFailure,
} from '../domain/invoice.ts';
import {
  type Actor,
  actorOf,
  canAccessCustomer,
  type Principal,
  requireOperator,
} from '../domain/principal.ts';
import { canTransition, nextStatus, type Subscription } from '../domain/subscription.ts';
import { logger } from '../logger.ts';
import { stripeGateway } from '../payments/stripe-gateway.ts';
import { auditDraft } from '../store/audit.ts';
import { InvoicesRepository, type PaymentRecord } from '../store/invoices-repository.ts';
import type { Page } from '../store/pagination.ts';
import { SubscriptionsRepository } from '../store/subscriptions-repository.ts';
import { UsageRepository } from '../store/usage-repository.ts';
import { listPlanPrices } from './catalog.ts';
import { stripeCustomerIdOf } from './customers.ts';

/** The system's own actor, for the scheduled period close. */
export const SCHEDULER: Actor = { kind: 'service', subject: 'billing-scheduler', tenant_id: null };

/** Days between finalization and the due date of an invoice. */
export const PAYMENT_TERMS_DAYS = 7;

export type CloseReport = {
  subscriptions: number;
  invoices_created: number;
  already_invoiced: number;
  skipped: number;
  /** Subscriptions moved to past_due (an open invoice past its due date) and back to active. */
  past_due: number;
  restored: number;
};

/**
 * The period-close job (scheduled in AWS, `npm run close-periods` or the local timer): every
 * subscription whose period has ended gets a draft invoice for that period and moves on; then
 * subscriptions with an overdue invoice become past_due (markOverdue). Safe to
 * run again or concurrently: a period's invoice id is derived from the period, and the subscription
 * only advances from the period it was read in.
 */
export async function closeDuePeriods(
  tableName: string,
  now: Date,
  actor: Actor = SCHEDULER,
): Promise<CloseReport> {
  const due = await new SubscriptionsRepository(tableName).listDue(now);
  const report: CloseReport = {
    subscriptions: due.length,
    invoices_created: 0,
    already_invoiced: 0,
    skipped: 0,
    past_due: 0,
    restored: 0,
  };
  let next = 0;
  // Many subscriptions share a plan: its prices are read once per run.
  const pricesByPlan = new Map<string, Promise<Price[]>>();
  const planPrices: PlanPrices = (planId) => {
    let prices = pricesByPlan.get(planId);
    if (!prices) {
      prices = listPlanPrices(tableName, planId);
      pricesByPlan.set(planId, prices);
      prices.catch(() => pricesByPlan.delete(planId));
    }
    return prices;
  };
  // A few subscriptions at a time: each close is a handful of reads and one transaction.
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      for (let i = next++; i < due.length; i = next++) {
        const outcome = await closeSubscriptionPeriods(tableName, due[i]!, now, actor, planPrices);
        report.invoices_created += outcome.created;
        report.already_invoiced += outcome.already;
        report.skipped += outcome.skipped;
      }
    }),
  );
  const standing = await markOverdue(tableName, now, actor);
  report.past_due = standing.past_due;
  report.restored = standing.restored;
  return report;
}

/** Closes every ended period of one subscription (several if the job did not run for a while). */
export async function closeSubscriptionPeriods(
  tableName: string,
  start: Subscription,
  now: Date,
  actor: Actor,
  planPrices: PlanPrices = (planId) => listPlanPrices(tableName, planId),
) {
  const invoices = new InvoicesRepository(tableName);
  const result = { created: 0, already: 0, skipped: 0 };
  let subscription: Subscription | undefined = start;
  while (
    subscription &&
    subscription.status !== 'canceled' &&
    new Date(subscription.current_period_end) <= now
  ) {
    const { invoice, advanced } = await draftFor(tableName, subscription, now, planPrices);
    const outcome = await invoices.createDraftAndAdvance(invoice, advanced, subscription.version, {
      invoice: auditDraft(actor, now, 'invoice', invoice.id, 'invoice.created', null, invoice),
      subscription: auditDraft(
        actor,
        now,
        'subscription',
        subscription.id,
        'subscription.period_closed',
        subscription,
        advanced,
      ),
    });
    if (outcome === 'created') result.created++;
    else if (outcome === 'already-invoiced') result.already++;
    else result.skipped++;
    if (outcome !== 'created') break;
    subscription = advanced;
  }
  return result;
}

type PlanPrices = (planId: string) => Promise<Price[]>;

async function draftFor(tableName: string, subscription: Subscription, now: Date, planPrices: PlanPrices) {
  const periodStart = subscription.current_period_start;
  const periodEnd = subscription.current_period_end;
  const inTrial = subscription.status === 'trialing';
  const [prices, usage, pendingItems] = await Promise.all([
    planPrices(subscription.plan_id),
    new UsageRepository(tableName).aggregates(subscription.id, periodStart),
    new SubscriptionsRepository(tableName).pendingItems(subscription.id),
  ]);
  const lines = buildLines({
    periodStart,
    periodEnd,
    flatPrices: inTrial ? [] : prices.filter((p) => p.active && p.model === 'flat'),
    usage,
    pendingItems: pendingItems.filter((item) => item.created_at < periodEnd),
  });
  const end = new Date(periodEnd);
  const following = periodContaining(new Date(subscription.billing_cycle_anchor), subscription.interval, end);
  const cancels = subscription.cancel_at_period_end;
  const advanced: Subscription = {
    ...subscription,
    status: cancels ? 'canceled' : inTrial ? 'active' : subscription.status,
    canceled_at: cancels ? periodEnd : subscription.canceled_at,
    cancel_at_period_end: false,
    current_period_start: cancels ? periodStart : following.start.toISOString(),
    current_period_end: cancels ? periodEnd : following.end.toISOString(),
    updated_at: now.toISOString(),
    version: subscription.version + 1,
  };
  const at = now.toISOString();
  const invoice: Invoice = {
    id: invoiceIdFor(subscription.id, periodStart),
    customer_id: subscription.customer_id,
    subscription_id: subscription.id,
    number: null,
    status: 'draft',
    currency: subscription.currency,
    period_start: periodStart,
    period_end: periodEnd,
    next_period_start: advanced.current_period_start,
    next_period_end: advanced.current_period_end,
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
  return { invoice, advanced };
}

type Caller = { principal: Principal; now: Date };

async function invoiceFor(tableName: string, invoiceId: string, principal: Principal): Promise<Invoice> {
  const invoice = await new InvoicesRepository(tableName).get(invoiceId);
  if (!invoice || !canAccessCustomer(principal, invoice.customer_id)) throw notFound('Invoice', invoiceId);
  return invoice;
}

export const getInvoice = (tableName: string, invoiceId: string, principal: Principal) =>
  invoiceFor(tableName, invoiceId, principal);

export async function listInvoices(
  tableName: string,
  query: {
    limit: number;
    cursor?: string | undefined;
    customer_id?: string | undefined;
    status?: string | undefined;
  },
  principal: Principal,
): Promise<Page<Invoice>> {
  const repository = new InvoicesRepository(tableName);
  const customerId = query.customer_id ?? principal.tenantId;
  if (customerId === undefined) return repository.listAll(query.limit, query.cursor, query.status);
  if (!canAccessCustomer(principal, customerId)) {
    throw new DomainError('forbidden', `This token may only list invoices of customer ${principal.tenantId}`);
  }
  return repository.listByCustomer(customerId, query.limit, query.cursor);
}

/**
 * Finalizes a draft: first closes its period to late usage (so no record can still land in it),
 * then recomputes the usage and proration lines from what is now final, numbers the invoice
 * (next in the customer's gapless sequence) and freezes it, all in one transaction.
 */
export async function finalizeInvoice(
  tableName: string,
  invoiceId: string,
  caller: Caller,
): Promise<Invoice> {
  requireOperator(caller.principal, 'finalize invoices');
  const repository = new InvoicesRepository(tableName);
  for (let attempt = 1; ; attempt++) {
    const draft = await invoiceFor(tableName, invoiceId, caller.principal);
    nextInvoiceStatus(draft.status, 'finalize');
    await repository.closePeriodToUsage(draft.subscription_id, draft.period_start, draft.id, caller.now);
    const subscriptions = new SubscriptionsRepository(tableName);
    const [usage, pendingItems] = await Promise.all([
      new UsageRepository(tableName).aggregates(draft.subscription_id, draft.period_start),
      subscriptions.pendingItems(draft.subscription_id),
    ]);
    // Items created after the period ended belong to the next invoice.
    const billed = pendingItems.filter((item) => item.created_at < draft.period_end);
    const fees = draft.lines.filter((line) => line.kind === 'subscription_fee');
    const lines = [
      ...fees,
      ...buildLines({
        periodStart: draft.period_start,
        periodEnd: draft.period_end,
        flatPrices: [],
        usage,
        pendingItems: billed,
      }),
    ];
    const sequence = (await repository.lastInvoiceNumber(draft.customer_id)) + 1;
    const at = caller.now.toISOString();
    const open: Invoice = {
      ...draft,
      status: 'open',
      number: invoiceNumber(draft.customer_id, sequence),
      lines,
      ...totalsOf(lines),
      due_date: new Date(caller.now.getTime() + PAYMENT_TERMS_DAYS * 86_400_000).toISOString(),
      finalized_at: at,
      updated_at: at,
      version: draft.version + 1,
    };
    const done = await repository.finalize(
      open,
      draft.version,
      sequence,
      billed,
      auditDraft(
        actorOf(caller.principal),
        caller.now,
        'invoice',
        draft.id,
        'invoice.finalized',
        draft,
        open,
      ),
    );
    if (done) return open;
    if (attempt >= 5)
      throw new DomainError('conflict', `Invoice ${invoiceId} is being changed concurrently; retry`);
  }
}

/** void and mark_uncollectible: a status change with its audit entry, nothing else. */
export async function changeInvoiceStatus(
  tableName: string,
  invoiceId: string,
  action: 'void' | 'mark_uncollectible',
  caller: Caller,
): Promise<Invoice> {
  requireOperator(caller.principal, `${action.replace('_', ' ')} invoices`);
  const current = await invoiceFor(tableName, invoiceId, caller.principal);
  const status = nextInvoiceStatus(current.status, action);
  const at = caller.now.toISOString();
  const next: Invoice = {
    ...current,
    status,
    ...(action === 'void' ? { voided_at: at } : { marked_uncollectible_at: at }),
    updated_at: at,
    version: current.version + 1,
  };
  const done = await new InvoicesRepository(tableName).transition(
    next,
    current.version,
    auditDraft(
      actorOf(caller.principal),
      caller.now,
      'invoice',
      invoiceId,
      `invoice.${status}`,
      current,
      next,
    ),
  );
  if (!done)
    throw new DomainError('version-conflict', `Invoice ${invoiceId} changed meanwhile; GET it and retry`);
  return next;
}

export type IncomingPayment = Pick<
  PaymentRecord,
  'id' | 'method' | 'stripe_payment_intent_id' | 'received_at'
>;

export type PaymentOutcome =
  /** The payment was recorded and the invoice is now paid. */
  | 'recorded'
  /** This payment (same id) was recorded before: nothing changed. */
  | 'duplicate'
  /** The invoice cannot take it: already paid by another payment, void, or still a draft. */
  | 'not-payable';

/**
 * Records a payment and marks the invoice paid, once: the payment item is keyed by its id (the
 * Stripe PaymentIntent id, or one derived from the invoice for out-of-band payments), so a
 * replayed webhook or a retried call finds it already there and changes nothing. Whether the
 * invoice can take the payment is decided on a fresh read, inside the retry loop, so a payment that
 * lost a race to another one comes back as `not-payable` (for the caller to keep as unapplied)
 * instead of vanishing. A subscription that was past due because of this invoice is active again.
 */
export async function recordPayment(
  tableName: string,
  invoiceId: string,
  payment: IncomingPayment,
  actor: Actor,
  now: Date,
): Promise<{ invoice: Invoice; outcome: PaymentOutcome }> {
  const repository = new InvoicesRepository(tableName);
  for (let attempt = 1; ; attempt++) {
    const current = await repository.get(invoiceId);
    if (!current) throw notFound('Invoice', invoiceId);
    if (await repository.getPayment(invoiceId, payment.id)) return { invoice: current, outcome: 'duplicate' };
    if (current.status !== 'open' && current.status !== 'uncollectible') {
      return { invoice: current, outcome: 'not-payable' };
    }
    const at = now.toISOString();
    const record: PaymentRecord = {
      ...payment,
      invoice_id: invoiceId,
      customer_id: current.customer_id,
      amount: current.amount_due,
      currency: current.currency,
      applied: true,
      unapplied_reason: null,
    };
    const paid: Invoice = {
      ...current,
      status: 'paid',
      amount_paid: current.amount_due,
      paid_at: at,
      // The payment that paid it (null when paid outside Stripe); earlier tries stay in the audit trail.
      stripe_payment_intent_id: payment.stripe_payment_intent_id,
      last_payment_error: null,
      pending_payment: null,
      updated_at: at,
      version: current.version + 1,
    };
    const done = await repository.markPaid(
      paid,
      current.version,
      record,
      auditDraft(actor, now, 'invoice', invoiceId, 'invoice.paid', current, paid),
      auditDraft(actor, now, 'payment', payment.id, 'payment.recorded', null, record),
    );
    if (done) {
      // The scheduled job re-checks standing too, so a failure here only delays the change.
      await reconcileStanding(tableName, paid.subscription_id, now, actor).catch((error: unknown) =>
        logger.warn('Could not re-check the subscription after a payment', {
          subscription_id: paid.subscription_id,
          error,
        }),
      );
      return { invoice: paid, outcome: 'recorded' };
    }
    if (attempt >= 5)
      throw new DomainError('conflict', `Invoice ${invoiceId} is being changed concurrently; retry`);
  }
}

/**
 * Money that arrived for an invoice but cannot settle it (paid otherwise, voided, a different
 * amount): recorded once as an unapplied payment with its audit entry, for finance to refund or
 * apply; the invoice is left as it is.
 */
export async function recordUnappliedPayment(
  tableName: string,
  invoice: Invoice,
  payment: IncomingPayment & { amount: number; currency: string },
  reason: string,
  actor: Actor,
  now: Date,
): Promise<boolean> {
  const record: PaymentRecord = {
    ...payment,
    invoice_id: invoice.id,
    customer_id: invoice.customer_id,
    applied: false,
    unapplied_reason: reason,
  };
  logger.error('A payment arrived that cannot settle its invoice; recorded as unapplied', {
    invoice_id: invoice.id,
    payment_id: payment.id,
    reason,
  });
  return new InvoicesRepository(tableName).recordUnappliedPayment(
    record,
    auditDraft(actor, now, 'payment', payment.id, 'payment.unapplied', null, record),
  );
}

/**
 * A Stripe charge that succeeded: it pays the invoice, or, if the invoice cannot take it any more
 * (paid by another payment or voided meanwhile), it is kept as an unapplied payment. Used by the pay
 * route and the webhook, so whichever learns of the charge first records it, and the other finds it.
 */
export async function recordStripeCharge(
  tableName: string,
  /** As the caller read it: its amount due and currency are frozen once finalized. */
  invoice: Invoice,
  charge: { paymentIntentId: string; amount: number; currency: string; receivedAt: string },
  actor: Actor,
  now: Date,
): Promise<{ invoice: Invoice; outcome: PaymentOutcome }> {
  const payment: IncomingPayment = {
    id: charge.paymentIntentId,
    method: 'stripe',
    stripe_payment_intent_id: charge.paymentIntentId,
    received_at: charge.receivedAt,
  };
  const sameMoney =
    charge.amount === invoice.amount_due && charge.currency.toUpperCase() === invoice.currency;
  const result = sameMoney
    ? await recordPayment(tableName, invoice.id, payment, actor, now)
    : { invoice, outcome: 'not-payable' as const };
  if (result.outcome === 'not-payable') {
    const reason = sameMoney
      ? `The invoice was already ${result.invoice.status} when Stripe collected this payment`
      : `Stripe collected ${charge.amount} ${charge.currency.toUpperCase()} but the invoice is due ${invoice.amount_due} ${invoice.currency}`;
    await recordUnappliedPayment(
      tableName,
      result.invoice,
      { ...payment, amount: charge.amount, currency: charge.currency.toUpperCase() },
      reason,
      actor,
      now,
    );
  }
  return result;
}

/** Records a declined attempt on the invoice (idempotent, order-tolerant: see withPaymentFailure). */
export async function recordPaymentFailure(
  tableName: string,
  invoiceId: string,
  failure: PaymentFailure,
  actor: Actor,
  now: Date,
): Promise<Invoice | undefined> {
  const repository = new InvoicesRepository(tableName);
  for (let attempt = 1; ; attempt++) {
    const current = await repository.get(invoiceId);
    if (!current) throw notFound('Invoice', invoiceId);
    const next = withPaymentFailure(current, failure, now);
    if (!next) return undefined;
    const done = await repository.transition(
      next,
      current.version,
      auditDraft(actor, now, 'invoice', invoiceId, 'invoice.payment_failed', current, next),
    );
    if (done) return next;
    if (attempt >= 5)
      throw new DomainError('conflict', `Invoice ${invoiceId} is being changed concurrently; retry`);
  }
}

/**
 * POST /invoices/{id}/pay. An invoice with nothing due is settled at once. `paid_out_of_band`
 * records money received elsewhere (the only way while Stripe is not configured, as in Stripe's
 * own API). Otherwise Stripe charges the customer's default payment method: attempt n uses
 * idempotency key `invoice-pay:<invoice>:<n>` with the payment method pinned when the attempt
 * started, and n moves on only after a decline, so a retry after a timeout or a 503 sends the very
 * same request and can never charge twice. While a payment is processing at Stripe, pay refuses.
 */
export async function payInvoice(
  tableName: string,
  invoiceId: string,
  body: { paid_out_of_band?: boolean | undefined },
  caller: Caller,
): Promise<Invoice> {
  requireOperator(caller.principal, 'pay invoices');
  const invoice = await invoiceFor(tableName, invoiceId, caller.principal);
  nextInvoiceStatus(invoice.status, 'pay');
  const actor = actorOf(caller.principal);
  const received_at = caller.now.toISOString();
  if (invoice.pending_payment?.status === 'processing') {
    throw new DomainError(
      'conflict',
      `Payment ${invoice.pending_payment.payment_intent_id} is processing at Stripe since ${invoice.pending_payment.since}; its outcome arrives by webhook`,
    );
  }
  if (invoice.amount_due === 0 || body.paid_out_of_band) {
    const free = invoice.amount_due === 0;
    const { invoice: paid, outcome } = await recordPayment(
      tableName,
      invoiceId,
      {
        id: `${free ? 'none' : 'oob'}_${invoiceId}`,
        method: free ? 'none' : 'out_of_band',
        stripe_payment_intent_id: null,
        received_at,
      },
      actor,
      caller.now,
    );
    if (outcome === 'not-payable') nextInvoiceStatus(paid.status, 'pay');
    return paid;
  }
  const gateway = await stripeGateway();
  if (!gateway) {
    throw new DomainError(
      'service-unavailable',
      'Collecting through Stripe is not configured here; record a payment received elsewhere with {"paid_out_of_band": true}',
    );
  }
  const stripeCustomerId = await stripeCustomerIdOf(
    tableName,
    invoice.customer_id,
    gateway,
    actor,
    caller.now,
  );
  const attempt = invoice.payment_attempts + 1;
  const started = await startAttempt(
    tableName,
    invoice,
    attempt,
    () => gateway.defaultPaymentMethod(stripeCustomerId),
    caller.now,
  );
  const result = await gateway.collectInvoice({
    invoiceId,
    stripeCustomerId,
    amount: invoice.amount_due,
    currency: invoice.currency,
    attempt,
    paymentMethod: started.payment_method,
  });
  if (result.status === 'succeeded') {
    const { invoice: settled, outcome } = await recordStripeCharge(
      tableName,
      invoice,
      {
        paymentIntentId: result.paymentIntentId,
        amount: invoice.amount_due,
        currency: invoice.currency,
        receivedAt: received_at,
      },
      actor,
      caller.now,
    );
    if (outcome === 'not-payable') {
      throw new DomainError(
        'conflict',
        `Invoice ${invoiceId} became ${settled.status} while Stripe charged it; the charge ${result.paymentIntentId} is recorded as an unapplied payment to refund`,
      );
    }
    return settled;
  }
  if (
    result.failureCode !== undefined ||
    result.status === 'requires_payment_method' ||
    result.status === 'canceled'
  ) {
    const code = result.failureCode ?? result.status;
    await recordPaymentFailure(
      tableName,
      invoiceId,
      { payment_intent_id: result.paymentIntentId, attempt, code, failed_at: received_at },
      actor,
      caller.now,
    );
    throw new DomainError(
      'payment-declined',
      `Stripe declined the payment (${code}); the invoice stays unpaid. Ask the customer to update their payment method, then pay again`,
    );
  }
  // processing (a bank debit) or waiting on the customer (requires_action): the webhook settles it.
  return markProcessing(tableName, invoiceId, attempt, result.paymentIntentId, caller.now, actor);
}

/**
 * The attempt's pending payment, created (payment method looked up and pinned) the first time the
 * attempt is tried and reused by every retry of it.
 */
async function startAttempt(
  tableName: string,
  invoice: Invoice,
  attempt: number,
  lookUpPaymentMethod: () => Promise<string>,
  now: Date,
): Promise<PendingPayment> {
  if (invoice.pending_payment?.attempt === attempt) return invoice.pending_payment;
  const pending: PendingPayment = {
    attempt,
    payment_method: await lookUpPaymentMethod(),
    payment_intent_id: null,
    status: 'requested',
    since: now.toISOString(),
  };
  const next: Invoice = {
    ...invoice,
    pending_payment: pending,
    updated_at: now.toISOString(),
    version: invoice.version + 1,
  };
  // No audit entry: nothing financial changed yet (the charge, or its decline, is audited).
  if (!(await new InvoicesRepository(tableName).replace(next, invoice.version))) {
    throw new DomainError(
      'version-conflict',
      `Invoice ${invoice.id} changed meanwhile (another payment attempt?); retry`,
    );
  }
  return pending;
}

async function markProcessing(
  tableName: string,
  invoiceId: string,
  attempt: number,
  paymentIntentId: string,
  now: Date,
  actor: Actor,
): Promise<Invoice> {
  const repository = new InvoicesRepository(tableName);
  for (let tries = 1; tries <= 5; tries++) {
    const current = await repository.get(invoiceId);
    if (!current) throw notFound('Invoice', invoiceId);
    // The webhook may already have settled it.
    if (current.pending_payment?.attempt !== attempt) return current;
    const next: Invoice = {
      ...current,
      pending_payment: {
        ...current.pending_payment,
        payment_intent_id: paymentIntentId,
        status: 'processing',
      },
      stripe_payment_intent_id: paymentIntentId,
      updated_at: now.toISOString(),
      version: current.version + 1,
    };
    const done = await repository.transition(
      next,
      current.version,
      auditDraft(actor, now, 'invoice', invoiceId, 'invoice.payment_processing', current, next),
    );
    if (done) return next;
  }
  throw new DomainError(
    'conflict',
    `Invoice ${invoiceId} is being changed concurrently; GET it to see the payment`,
  );
}

/**
 * A subscription is past_due while it has an open invoice past its due date, and active again once
 * it has none. Returns the new status when it changed.
 */
export async function reconcileStanding(
  tableName: string,
  subscriptionId: string,
  now: Date,
  actor: Actor,
): Promise<Subscription['status'] | undefined> {
  const subscriptions = new SubscriptionsRepository(tableName);
  for (let attempt = 1; attempt <= 3; attempt++) {
    const current = await subscriptions.get(subscriptionId, true);
    if (!current) return undefined;
    const overdue = await stillOverdue(tableName, current, now);
    const action = overdue.length > 0 ? 'payment_failed' : 'payment_succeeded';
    if (!canTransition(current.status, action)) return undefined;
    const status = nextStatus(current.status, action);
    if (status === current.status) return undefined;
    const next: Subscription = {
      ...current,
      status,
      updated_at: now.toISOString(),
      version: current.version + 1,
    };
    const updated = await subscriptions.replace(
      next,
      current.version,
      auditDraft(actor, now, 'subscription', current.id, `subscription.${status}`, current, next),
    );
    if (updated) return status;
  }
  return undefined;
}

/**
 * The subscription's invoices past their due date and still unpaid. The index that finds them is
 * eventually consistent, so each candidate is read again (strongly) before it counts: an invoice
 * paid a moment ago must not put its subscription in past_due.
 */
async function stillOverdue(tableName: string, subscription: Subscription, now: Date): Promise<Invoice[]> {
  const repository = new InvoicesRepository(tableName);
  const candidates = await repository.overdueOf(subscription.customer_id, subscription.id, now);
  const fresh = await Promise.all(candidates.map((invoice) => repository.get(invoice.id)));
  return fresh.filter(
    (invoice): invoice is Invoice =>
      invoice !== undefined &&
      invoice.status === 'open' &&
      invoice.due_date !== null &&
      invoice.due_date <= now.toISOString(),
  );
}

/**
 * The dunning half of the scheduled job: subscriptions with an invoice past its due date become
 * past_due, and past_due ones with nothing overdue left (paid meanwhile) become active again.
 */
export async function markOverdue(
  tableName: string,
  now: Date,
  actor: Actor = SCHEDULER,
): Promise<{ past_due: number; restored: number }> {
  const [overdue, pastDue] = await Promise.all([
    new InvoicesRepository(tableName).listOverdue(now),
    new SubscriptionsRepository(tableName).listWithStatus('past_due'),
  ]);
  const ids = new Set([...overdue.map((i) => i.subscription_id), ...pastDue.map((s) => s.id)]);
  const report = { past_due: 0, restored: 0 };
  for (const id of ids) {
    const status = await reconcileStanding(tableName, id, now, actor);
    if (status === 'past_due') report.past_due++;
    if (status === 'active') report.restored++;
  }
  return report;
}
