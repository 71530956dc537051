/**
 * Money is an integer number of minor units plus an ISO 4217 currency (SPEC §4). Fractions exist
 * only as exact rationals (bigint numerator/denominator) on the way to one rounding, done by
 * `roundHalfUp` below and nowhere else. No JavaScript float ever holds an amount.
 */
export type Money = { amount: number; currency: string };

/** Fraction digits of each supported currency's minor unit. */
export const CURRENCY_EXPONENTS: Readonly<Record<string, number>> = {
  USD: 2,
  EUR: 2,
  GBP: 2,
  CHF: 2,
  CAD: 2,
  AUD: 2,
  SEK: 2,
  NOK: 2,
  DKK: 2,
  JPY: 0,
  BHD: 3,
  KWD: 3,
};

export function assertMinorUnits(amount: number, what = 'amount'): number {
  if (!Number.isSafeInteger(amount))
    throw new RangeError(`${what} must be a safe integer of minor units, got ${amount}`);
  return amount;
}

export function addMoney(a: Money, b: Money): Money {
  if (a.currency !== b.currency) throw new RangeError(`Cannot add ${a.currency} to ${b.currency}`);
  return { amount: assertMinorUnits(a.amount + b.amount), currency: a.currency };
}

/**
 * THE rounding rule: the exact value numerator/denominator rounded to the nearest integer, halves
 * away from zero ("commercial rounding": 0.5 → 1, -0.5 → -1). Applied once per line item.
 */
export function roundHalfUp(numerator: bigint, denominator: bigint): number {
  if (denominator === 0n) throw new RangeError('Division by zero');
  if (denominator < 0n) return roundHalfUp(-numerator, -denominator);
  const negative = numerator < 0n;
  const magnitude = negative ? -numerator : numerator;
  const rounded = (2n * magnitude + denominator) / (2n * denominator);
  const result = Number(negative ? -rounded : rounded);
  return assertMinorUnits(result === 0 ? 0 : result);
}

/** An exact non-negative decimal: value = units / 10^scale. */
export type Decimal = { units: bigint; scale: number };

const DECIMAL = /^(\d{1,20})(?:\.(\d{1,12}))?$/;

/** Parses a decimal string such as "0.0004" exactly; throws on anything else (no exponent, no sign). */
export function parseDecimal(text: string): Decimal {
  const match = DECIMAL.exec(text);
  if (!match) throw new RangeError(`"${text}" is not a decimal like 12 or 0.0004`);
  const fraction = match[2] ?? '';
  return { units: BigInt(match[1]! + fraction), scale: fraction.length };
}

export const pow10 = (n: number): bigint => 10n ** BigInt(n);

const PERCENT = /^(?:100(?:\.0{1,4})?|[1-9]?\d(?:\.\d{1,4})?)$/;

/**
 * Whether `value` is a percentage as rates and coupons state it: a decimal string from "0" to
 * "100", at most 4 places, no sign, exponent, spaces or leading zero ("19", "8.875", "0.5").
 */
export const isPercent = (value: unknown): value is string =>
  typeof value === 'string' && PERCENT.test(value);

/** A percentage exactly, in ten-thousandths of a percent: "8.875" → 88750n. Throws unless `isPercent`. */
export function percentUnits(text: string): bigint {
  if (!isPercent(text))
    throw new RangeError(`"${text}" is not a percentage from 0 to 100 with at most 4 places`);
  const { units, scale } = parseDecimal(text);
  return units * pow10(4 - scale);
}

/** 100 %, in the units of `percentUnits`. */
export const HUNDRED_PERCENT = 100n * pow10(4);

/**
 * `total` minor units apportioned over exact shares numerators[i] / denominator (largest remainder):
 * each share rounded down, then one more unit each to the shares with the largest fractions (ties to
 * the earlier) until they add up to `total`. `total` must lie between the rounded-down sum and that
 * sum plus the number of shares with a fraction, so every share ends within one unit of exact.
 */
export function apportion(total: bigint, numerators: readonly bigint[], denominator: bigint): bigint[] {
  if (denominator <= 0n) throw new RangeError('The shares need a positive denominator');
  const shares = numerators.map((n) => n / denominator);
  const left = total - shares.reduce((sum, share) => sum + share, 0n);
  const withFraction = numerators
    .map((n, i) => ({ i, rest: n % denominator }))
    .filter((share) => share.rest > 0n)
    .sort((a, b) => (a.rest === b.rest ? a.i - b.i : a.rest > b.rest ? -1 : 1));
  if (left < 0n || left > BigInt(withFraction.length))
    throw new RangeError(`${total} cannot be apportioned over these shares within a unit of each`);
  for (const { i } of withFraction.slice(0, Number(left))) shares[i]! += 1n;
  return shares;
}

/**
 * How a document prints an amount of minor units: the currency's decimal places, thousands grouped
 * with commas, a leading minus for credits (-123456 EUR → "-1,234.56"; 5000 JPY → "5,000"). Done on
 * the digits, so no amount passes through a float.
 */
export function formatMinorUnits(amount: number, currency: string): string {
  assertMinorUnits(amount);
  const exponent = CURRENCY_EXPONENTS[currency];
  if (exponent === undefined) throw new RangeError(`No minor unit is known for currency ${currency}`);
  const digits = String(Math.abs(amount)).padStart(exponent + 1, '0');
  const whole = digits.slice(0, digits.length - exponent).replace(/\B(?=(\d{3})+$)/g, ',');
  const fraction = exponent > 0 ? `.${digits.slice(digits.length - exponent)}` : '';
  return `${amount < 0 ? '-' : ''}${whole}${fraction}`;
}
