import { config } from '../../config.ts';
import { discountedAndTaxed } from '../../domain/coupons.ts';
import {
  applyCredit,
  chargeLines,
  type Invoice,
  invoiceNumber,
  isPeriodUsageLine,
  nextInvoiceStatus,
  pendingItemsOfPeriod,
  periodUsageLines,
  withLineIds,
} from '../../domain/invoice.ts';
import { type Caller, requireOperator } from '../../domain/principal.ts';
import { auditBy } from '../../store/audit.ts';
import {
  CustomersRepository,
  creditBalanceMove,
  creditBalanceUnchanged,
} from '../../store/customers-repository.ts';
import { DiscountsRepository } from '../../store/discounts-repository.ts';
import { type Idempotency, idempotencyItems } from '../../store/idempotency.ts';
import { InvoicesRepository } from '../../store/invoices-repository.ts';
import { SubscriptionsRepository } from '../../store/subscriptions-repository.ts';
import type { TransactItem } from '../../store/transact.ts';
import { changingConcurrently, LOST_RACE, retryOnLostRace } from '../optimistic.ts';
import { invoiceTaxRates } from '../tax-rates.ts';
import { invoiceFor } from './invoices.ts';
import { NO_USAGE, periodUsage } from './period-usage.ts';
import { recordPayment } from './record-payment.ts';

/** Days between finalization and the due date of an invoice. */
export const PAYMENT_TERMS_DAYS = 7;

/**
 * Finalizes a draft, all in one transaction once the reads are done: an invoice that closes a period
 * first closes that period to late usage (so no record can still land in it) and recomputes its usage
 * lines from what is now final; it is numbered (next in the customer's gapless sequence, after the
 * customer's invoice prefix), discounted and taxed (coupons.ts, invoice-tax.ts) and frozen; the
 * customer's credit balance in its currency pays what it can of the taxed total, and a total below
 * zero adds to it (docs/billing-rules.md, "Credits").
 */
export async function finalizeInvoice(
  tableName: string,
  invoiceId: string,
  caller: Caller,
  idempotency: Idempotency = undefined,
): Promise<Invoice> {
  requireOperator(caller.principal, 'finalize invoices');
  // With an Idempotency-Key the answer is kept with the last write: the finalize, or the payment
  // that settles an invoice with nothing due (its answer is the paid invoice).
  const answer = (body: Invoice) => idempotencyItems(tableName, idempotency, body);
  const repository = new InvoicesRepository(tableName);
  return retryOnLostRace(
    5,
    async () => {
      const draft = await invoiceFor(tableName, invoiceId, caller.principal);
      // Finalized, with nothing to collect, but its settling did not happen (it failed after the
      // finalize committed): finalizing again settles it.
      if (draft.status === 'open' && draft.amount_due === 0)
        return settleIfNothingDue(tableName, draft, caller, answer);
      nextInvoiceStatus(draft.status, 'finalize');
      // A one-off invoice (no subscription) closes no period and takes no pending item.
      const subscriptionId = draft.subscription_id;
      const billsUsage = draft.bills_usage && subscriptionId !== null;
      if (billsUsage) {
        await repository.closePeriodToUsage(subscriptionId, draft.period_start, draft.id, caller.now);
      }
      const [usage, pendingItems] = await Promise.all([
        billsUsage ? periodUsage(tableName, subscriptionId, draft.period_start) : NO_USAGE,
        subscriptionId === null
          ? Promise.resolve([])
          : new SubscriptionsRepository(tableName).pendingItems(subscriptionId),
      ]);
      // Drafts take their pending items when drafted; one drafted before that rule takes them now.
      const billed = billsUsage ? pendingItemsOfPeriod(pendingItems, draft.period_end) : [];
      // Usage lines and threshold credits are recomputed from what is final now (a threshold
      // invoice may have been made, or voided, since the draft).
      const lines = withLineIds(draft.id, [
        ...draft.lines.filter((line) => !isPeriodUsageLine(line)),
        ...chargeLines(billed),
        ...(billsUsage ? periodUsageLines(usage, draft.period_start, draft.period_end) : []),
      ]);
      const { open, sequence, balanceItems } = await numberedWithCredit(tableName, draft, lines, caller);
      const done = await repository.finalize(
        open,
        draft.version,
        sequence,
        billed,
        auditBy(caller, 'invoice', draft.id, 'invoice.finalized', draft, open),
        [...balanceItems, ...(open.amount_due > 0 ? answer(open) : [])],
      );
      if (!done) return LOST_RACE;
      return settleIfNothingDue(tableName, open, caller, answer);
    },
    () => {
      throw changingConcurrently(`Invoice ${invoiceId}`);
    },
  );
}

/**
 * What finalizing `draft` with `lines` makes of it, read but not written: numbered next in the
 * customer's gapless sequence (after its invoice prefix, assigned now if it has none), its coupons'
 * discount lines added, taxed, the customer's credit balance in its currency applied, due in
 * PAYMENT_TERMS_DAYS; with the items that move (or pin) the balance and record the periods the
 * discounts used, for the transaction that writes it. Shared by every invoice that is finalized.
 */
export async function numberedWithCredit(
  tableName: string,
  draft: Invoice,
  lines: Invoice['lines'],
  caller: Caller,
): Promise<{ open: Invoice; sequence: number; balanceItems: TransactItem[] }> {
  const customers = new CustomersRepository(tableName);
  const discountsRepository = new DiscountsRepository(tableName);
  const [prefix, balance, rates, discounts] = await Promise.all([
    customers.ensureInvoicePrefix(draft.customer_id, (before, after) =>
      auditBy(caller, 'customer', draft.customer_id, 'customer.invoice_prefix_assigned', before, after),
    ),
    customers.creditBalance(draft.customer_id, draft.currency),
    invoiceTaxRates(tableName, draft),
    discountsRepository.discountsOf(draft.customer_id),
  ]);
  // Its coupons' discount lines, then taxes on what they left (coupons.ts, invoice-tax.ts).
  const { taxed, discounts: discounted } = discountedAndTaxed(draft, lines, discounts, rates, caller.now);
  const credit = applyCredit(taxed.total, balance?.amount ?? 0);
  // A discount that newly used this period (or part of its amount off) records it, on the version
  // read: two invoices cannot both take a coupon's last period. One that did not change is checked
  // to be as read: ended meanwhile, it does not apply.
  const discountItems = [
    ...discounted.changed.map(({ before, after }) => discountsRepository.changed(before, after)),
    ...discounted.unchanged.map((discount) => discountsRepository.unchangedCheck(discount)),
  ];
  const sequence = (await new InvoicesRepository(tableName).lastInvoiceNumber(draft.customer_id)) + 1;
  const at = caller.now.toISOString();
  const open: Invoice = {
    ...draft,
    status: 'open',
    number: invoiceNumber(prefix, sequence),
    ...taxed,
    credit_applied: credit.credit_applied,
    credited_to_balance: credit.credited_to_balance,
    amount_due: credit.amount_due,
    due_date: new Date(caller.now.getTime() + PAYMENT_TERMS_DAYS * 86_400_000).toISOString(),
    finalized_at: at,
    issuer: config().invoiceIssuer,
    updated_at: at,
    version: draft.version + 1,
  };
  const balanceMoves = credit.balance !== (balance?.amount ?? 0);
  const balanceItems = balanceMoves
    ? creditBalanceMove(tableName, caller, draft.customer_id, draft.currency, balance, credit.balance, {
        invoice_id: draft.id,
      })
    : // Even when it does not move, the balance must be the one read: credit that arrived
      // meanwhile (another invoice finalized or voided) is applied by a retry, not skipped.
      [creditBalanceUnchanged(tableName, draft.customer_id, draft.currency, balance)];
  return { open, sequence, balanceItems: [...balanceItems, ...discountItems] };
}

/** An open invoice with nothing to collect (a credit, or the balance paid it all) is paid at once, as in Stripe. */
export async function settleIfNothingDue(
  tableName: string,
  open: Invoice,
  caller: Caller,
  answer: (paid: Invoice) => TransactItem[],
): Promise<Invoice> {
  if (open.amount_due > 0) return open;
  const { invoice } = await recordPayment(
    tableName,
    open.id,
    {
      id: `none_${open.id}`,
      method: 'none',
      stripe_payment_intent_id: null,
      received_at: caller.now.toISOString(),
    },
    caller,
    answer,
  );
  return invoice;
}
