import { chargeLines, type Invoice, newDraft, withLineIds } from './invoice.ts';
import type { OneTimeCharge } from './one-time.ts';

/**
 * A one-off invoice before it is finalized (docs/billing-rules.md, "One-time purchases"): one line
 * per one-time item, for no subscription (`subscription_id` null) and no period (a zero-length
 * stretch at `now`: it closes none, bills no usage, and names no period for the SmartGateway).
 */
export function oneOffInvoice(
  id: string,
  customerId: string,
  currency: string,
  charges: readonly OneTimeCharge[],
  now: Date,
): Invoice {
  const at = now.toISOString();
  return newDraft(
    {
      id,
      customer_id: customerId,
      subscription_id: null,
      billing_reason: 'manual',
      currency,
      period_start: at,
      period_end: at,
      bills_usage: false,
      next_period_start: null,
      next_period_end: null,
      lines: withLineIds(id, chargeLines(charges)),
    },
    now,
  );
}
