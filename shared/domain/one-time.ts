import type { Price } from './catalog.ts';
import { DomainError } from './errors.ts';
import { formatMinorUnits } from './money.ts';

/**
 * One-time purchases (docs/billing-rules.md, "One-time purchases"): a product's `one_time` price sold
 * in a whole quantity, either as an item on a subscription's next invoice or on a one-off invoice.
 * The amount is exactly quantity × unit_amount. Both are bounded so that the product is at most
 * 10^12 minor units, like one usage line: with at most 80 items on an invoice the total stays
 * below 10^14, far under 2^53, where JS numbers stop being exact.
 */
export const MAX_ONE_TIME_QUANTITY = 1_000_000;
export const MAX_ONE_TIME_UNIT_AMOUNT = 1_000_000_000_000;
export const MAX_ONE_TIME_AMOUNT = 1_000_000_000_000;

/** A one-time item before it is on an invoice: what it sells, how many, at what unit price. */
export type OneTimeCharge = {
  kind: 'one_time';
  /** quantity × unit_amount, minor units. */
  amount: number;
  currency: string;
  /** A one-time item is for no plan (kept so every pending item has the field). */
  plan_id: null;
  price_id: string;
  quantity: number;
  unit_amount: number;
  description: string;
  /** The moment it was added: [at, at). */
  period_start: string;
  period_end: string;
};

/**
 * The exact amount of `quantity` units at `unitAmount`, or a 422 naming `field` when it would pass
 * MAX_ONE_TIME_AMOUNT. Computed in bigints, so the check itself cannot round.
 */
export function oneTimeAmount(unitAmount: number, quantity: number, field = 'quantity'): number {
  if (!Number.isSafeInteger(unitAmount) || unitAmount < 0)
    throw new RangeError(`unit_amount ${unitAmount} is not a whole number of minor units`);
  if (!Number.isSafeInteger(quantity) || quantity < 1 || quantity > MAX_ONE_TIME_QUANTITY)
    throw new RangeError(`quantity ${quantity} is not a whole number from 1 to ${MAX_ONE_TIME_QUANTITY}`);
  const exact = BigInt(unitAmount) * BigInt(quantity);
  if (exact > BigInt(MAX_ONE_TIME_AMOUNT)) {
    const most = Math.floor(MAX_ONE_TIME_AMOUNT / Math.max(unitAmount, 1));
    throw new DomainError(
      'unprocessable',
      `quantity × unit_amount is ${exact} minor units; one item may be at most 10^12 (at most ${most} of this price)`,
      [
        {
          field,
          message: `quantity × unit_amount must be at most 10^12 minor units: at most ${most} of this price`,
        },
      ],
    );
  }
  return Number(exact);
}

/** `price` must be an active one-time price in `currency`; otherwise a 422 naming the field. */
export function requireOneTimePrice(price: Price | undefined, currency: string, field: string): Price {
  const refuse = (message: string) =>
    new DomainError('unprocessable', `${field}: ${message}`, [{ field, message }]);
  if (!price) throw refuse('no such price');
  if (price.model !== 'one_time' || price.unit_amount === null)
    throw refuse(`price ${price.id} is a ${price.model} price, not a one_time price`);
  if (!price.active) throw refuse(`price ${price.id} is archived`);
  if (price.currency !== currency)
    throw refuse(`price ${price.id} is in ${price.currency}, the invoice is in ${currency}`);
  return price;
}

/** The item selling `quantity` of the one-time `price` at `at`, described by the caller or by the price. */
export function oneTimeCharge(
  price: Price,
  quantity: number,
  description: string | undefined,
  at: Date,
  field = 'quantity',
): OneTimeCharge {
  const unitAmount = price.unit_amount ?? 0;
  const moment = at.toISOString();
  return {
    kind: 'one_time',
    amount: oneTimeAmount(unitAmount, quantity, field),
    currency: price.currency,
    plan_id: null,
    price_id: price.id,
    quantity,
    unit_amount: unitAmount,
    // As a reader of the invoice reads it: "Setup: 3 × 49.00 USD" (the unit price in the currency's units).
    description:
      description ??
      `${price.nickname ?? 'One-time purchase'}: ${quantity} × ${formatMinorUnits(unitAmount, price.currency)} ${price.currency}`,
    period_start: moment,
    period_end: moment,
  };
}
