/**
 * Refunds (docs/invoicing.md, "Refunds"): money going back to the customer, on one payment of an
 * invoice. Two kinds of money can be refunded:
 *
 * - `credit_balance`: what the customer is owed after a credit note gave it back (the note's
 *   `refund_amount`, or the credit balance a note raised, refunded later). The refund draws on the
 *   credit, on the invoice's paying payment, at most what that payment has not refunded yet.
 * - `unapplied_payment`: money that arrived but settled nothing (paid twice, paid after a void,
 *   another amount); all or part of it, never more than it was.
 *
 * A refund through Stripe is `pending` until Stripe says it `succeeded`, `failed` or was `canceled`
 * (its webhooks, in any order, each once). One that fails or is canceled gives its money back to
 * where it came from: to the customer's credit balance, or the payment's refundable amount. A
 * refund made outside this service (`out_of_band`) is recorded as succeeded.
 */
export type RefundStatus = 'pending' | 'succeeded' | 'failed' | 'canceled';
export type RefundSource = 'credit_balance' | 'unapplied_payment';

export type Refund = {
  id: string;
  invoice_id: string;
  customer_id: string;
  /** The payment it returns money from (a PaymentIntent id, or oob_<invoice> for one received elsewhere). */
  payment_id: string;
  /** The credit note it carries out (`post_payment_to: "refund"`), if any. */
  credit_note_id: string | null;
  source: RefundSource;
  amount: number;
  currency: string;
  method: 'stripe' | 'out_of_band';
  status: RefundStatus;
  stripe_refund_id: string | null;
  /** Whether Stripe has the request yet (a refund Stripe did not answer for is sent again hourly). */
  sent: boolean;
  failure_reason: string | null;
  created_at: string;
  updated_at: string;
  version: number;
};

/** What a Stripe Refund object says of one of ours (refund.* and charge.refunded webhooks, the create answer). */
export type StripeRefundState = {
  /** Null when Stripe refused the request outright (no refund was made). */
  stripeRefundId: string | null;
  status: string;
  failureReason: string | null;
};

/** How far a status has gone: a later report never moves a refund back (webhooks come in any order). */
const RANK: Record<RefundStatus, number> = { pending: 0, succeeded: 1, failed: 2, canceled: 2 };

/** Stripe's refund statuses as ours (`requires_action` is still pending). */
export function refundStatusOf(stripeStatus: string): RefundStatus {
  if (stripeStatus === 'succeeded' || stripeStatus === 'failed' || stripeStatus === 'canceled')
    return stripeStatus;
  return 'pending';
}

/**
 * The refund after Stripe reported `state`, or undefined when the report changes nothing (the same
 * status again, or an older one arriving late). A refund that succeeded can still fail afterwards
 * (Stripe says so for some payment methods); a failed or canceled one is final.
 */
export function refundAfter(current: Refund, state: StripeRefundState, at: string): Refund | undefined {
  const status = refundStatusOf(state.status);
  const known = current.stripe_refund_id ?? state.stripeRefundId;
  if (RANK[status] <= RANK[current.status] && current.sent && current.stripe_refund_id === known)
    return undefined;
  const moves = RANK[status] > RANK[current.status];
  return {
    ...current,
    stripe_refund_id: known,
    sent: true,
    status: moves ? status : current.status,
    failure_reason:
      moves && status !== 'succeeded' ? (state.failureReason ?? status) : current.failure_reason,
    updated_at: at,
    version: current.version + 1,
  };
}

/** Whether going from `before` to `after` gives the refund's money back (it failed or was canceled now). */
export const givesMoneyBack = (before: Refund, after: Refund): boolean =>
  RANK[before.status] < 2 && RANK[after.status] === 2;
