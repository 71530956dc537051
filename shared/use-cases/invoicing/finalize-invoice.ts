import {
  buildLines,
  type Invoice,
  invoiceNumber,
  nextInvoiceStatus,
  pendingItemsOfPeriod,
  totalsOf,
} from '../../domain/invoice.ts';
import { type Caller, requireOperator } from '../../domain/principal.ts';
import { auditBy } from '../../store/audit.ts';
import { InvoicesRepository } from '../../store/invoices-repository.ts';
import { SubscriptionsRepository } from '../../store/subscriptions-repository.ts';
import { UsageRepository } from '../../store/usage-repository.ts';
import { changingConcurrently, LOST_RACE, retryOnLostRace } from '../optimistic.ts';
import { invoiceFor } from './invoices.ts';

/** Days between finalization and the due date of an invoice. */
export const PAYMENT_TERMS_DAYS = 7;

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
  return retryOnLostRace(
    5,
    async () => {
      const draft = await invoiceFor(tableName, invoiceId, caller.principal);
      nextInvoiceStatus(draft.status, 'finalize');
      await repository.closePeriodToUsage(draft.subscription_id, draft.period_start, draft.id, caller.now);
      const [usage, pendingItems] = await Promise.all([
        new UsageRepository(tableName).aggregates(draft.subscription_id, draft.period_start),
        new SubscriptionsRepository(tableName).pendingItems(draft.subscription_id),
      ]);
      const billed = pendingItemsOfPeriod(pendingItems, draft.period_end);
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
        auditBy(caller, 'invoice', draft.id, 'invoice.finalized', draft, open),
      );
      return done ? open : LOST_RACE;
    },
    () => {
      throw changingConcurrently(`Invoice ${invoiceId}`);
    },
  );
}
