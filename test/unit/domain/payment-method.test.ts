import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type DefaultPaymentMethod,
  detached,
  isExpired,
  type PaymentMethod,
  refuseToCharge,
  viewOf,
  withDefault,
  withStripeState,
} from '../../../shared/domain/payment-method.ts';
import { looksLikeCardNumber } from '../../../shared/schemas/payment-methods.ts';

const card = (exp_month: number, exp_year: number) => ({ brand: 'visa', last4: '4242', exp_month, exp_year });
const NOW = new Date('2026-12-01T15:00:00Z');

const stored = (overrides: Partial<PaymentMethod> = {}): PaymentMethod => ({
  id: 'pm_1',
  customer_id: 'c1',
  source: 'stripe',
  type: 'card',
  card: card(8, 2030),
  status: 'attached',
  created_at: '2026-11-01T00:00:00.000Z',
  updated_at: '2026-11-01T00:00:00.000Z',
  detached_at: null,
  synced_at: 1000,
  version: 1,
  ...overrides,
});

describe('card expiry', () => {
  it('a card is valid through the last day of its expiry month (UTC) and expired from the next', () => {
    expect(isExpired(card(12, 2026), new Date('2026-12-31T23:59:59Z'))).toBe(false);
    expect(isExpired(card(12, 2026), new Date('2027-01-01T00:00:00Z'))).toBe(true);
    expect(isExpired(card(11, 2026), NOW)).toBe(true);
    expect(isExpired(card(1, 2027), NOW)).toBe(false);
    expect(isExpired(card(12, 2025), NOW)).toBe(true);
    expect(isExpired(null, NOW)).toBe(false);
  });

  it('expired exactly when the first moment after the expiry month has come (any card, any moment)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 2000, max: 2100 }),
        fc.integer({ min: Date.UTC(1999, 0, 1), max: Date.UTC(2101, 11, 31) }),
        (month, year, at) => {
          // The independent expectation: the first instant of the month after, built by Date.UTC.
          const firstInvalid = Date.UTC(month === 12 ? year + 1 : year, month === 12 ? 0 : month, 1);
          expect(isExpired(card(month, year), new Date(at))).toBe(at >= firstInvalid);
        },
      ),
    );
  });

  it('the view computes expired and default on read', () => {
    expect(viewOf(stored({ card: card(11, 2026) }), 'pm_1', NOW)).toMatchObject({
      expired: true,
      default: true,
    });
    expect(viewOf(stored(), 'pm_2', NOW)).toMatchObject({ expired: false, default: false });
    expect(viewOf(stored({ status: 'detached' }), 'pm_1', NOW).default).toBe(false);
  });

  it('charging an expired card is refused naming the field, the card and what to do', () => {
    const refusal = refuseToCharge(stored({ card: card(3, 2025) }), 'c1', NOW, 'payment_method_id', 'pm_1');
    expect(refusal?.kind).toBe('unprocessable');
    expect(refusal?.fieldErrors[0]?.field).toBe('payment_method_id');
    expect(refusal?.message).toContain('visa •••• 4242 (expires 03/2025)');
    expect(refusal?.message).toContain('attach a new card and set it as default');
    expect(refuseToCharge(stored(), 'c1', NOW, 'payment_method_id', 'pm_1')).toBeUndefined();
  });

  it("another customer's method reads as unknown, and a detached one cannot be charged", () => {
    expect(refuseToCharge(stored(), 'c2', NOW, 'f', 'pm_1')?.message).toBe(
      'f: pm_1 is not a payment method of customer c2',
    );
    expect(refuseToCharge(undefined, 'c1', NOW, 'f', 'pm_9')?.fieldErrors).toEqual([
      { field: 'f', message: 'pm_9 is not a payment method of customer c1' },
    ]);
    expect(refuseToCharge(stored({ status: 'detached' }), 'c1', NOW, 'f', 'pm_1')?.message).toContain(
      'detached',
    );
  });
});

describe('ordering of Stripe reports', () => {
  const state = { id: 'pm_1', type: 'card', card: card(9, 2031) };

  it('an older report never overwrites a newer state; a newer one does', () => {
    expect(withStripeState(stored(), 'c1', state, 999, NOW)).toBeUndefined();
    expect(withStripeState(stored(), 'c1', state, 1001, NOW)).toMatchObject({
      card: card(9, 2031),
      synced_at: 1001,
      version: 2,
    });
  });

  it('the same state reported later moves synced_at on, so a report in between cannot then win', () => {
    const confirmed = withStripeState(stored(), 'c1', { ...state, card: card(8, 2030) }, 2000, NOW)!;
    expect(confirmed.synced_at).toBe(2000);
    expect(withStripeState(confirmed, 'c1', state, 1500, NOW)).toBeUndefined();
    expect(withStripeState(confirmed, 'c1', { ...state, card: card(8, 2030) }, 2000, NOW)).toBeUndefined();
  });

  it('detaching is permanent: no attach or update report, however new, brings a method back', () => {
    const gone = detached(stored(), 500, NOW)!;
    expect(gone).toMatchObject({ status: 'detached', synced_at: 1000, version: 2 });
    expect(withStripeState(gone, 'c1', state, 5000, NOW)).toBeUndefined();
    expect(detached(gone, 6000, NOW)).toBeUndefined();
  });

  it("our own writes apply at once and keep the Stripe time, so Stripe's later event still applies", () => {
    const held: DefaultPaymentMethod = {
      customer_id: 'c1',
      payment_method_id: 'pm_a',
      synced_at: 100,
      version: 3,
    };
    const ours = withDefault(held, 'c1', 'pm_b', null)!;
    expect(ours).toEqual({ customer_id: 'c1', payment_method_id: 'pm_b', synced_at: 100, version: 4 });
    expect(withDefault(ours, 'c1', 'pm_b', 101)).toMatchObject({ payment_method_id: 'pm_b', synced_at: 101 });
    expect(withDefault(ours, 'c1', 'pm_b', null)).toBeUndefined();
    expect(withStripeState(undefined, 'c1', state, null, NOW)?.synced_at).toBe(0);
    expect(detached(stored(), null, NOW)?.synced_at).toBe(1000);
  });

  it('defaults apply in Stripe time order whatever order they arrive in', () => {
    const reports: [string | null, number][] = [
      ['pm_a', 10],
      ['pm_b', 20],
      [null, 30],
      ['pm_c', 40],
    ];
    fc.assert(
      fc.property(fc.shuffledSubarray(reports, { minLength: 1 }), (arrived) => {
        let held: DefaultPaymentMethod | undefined;
        for (const [id, at] of arrived) held = withDefault(held, 'c1', id, at) ?? held;
        // The independent expectation: the report with the greatest time among those that arrived.
        const latest = [...arrived].sort((a, b) => b[1] - a[1])[0]!;
        expect(held?.payment_method_id ?? null).toBe(latest[0]);
      }),
    );
  });
});

describe('card numbers', () => {
  it('recognises numbers that pass the Luhn check, with or without separators', () => {
    expect(looksLikeCardNumber('4242424242424242')).toBe(true);
    expect(looksLikeCardNumber('4242 4242 4242 4242')).toBe(true);
    expect(looksLikeCardNumber('5555-5555-5555-4444')).toBe(true);
    expect(looksLikeCardNumber(378282246310005)).toBe(true);
    expect(looksLikeCardNumber('4242424242424241')).toBe(false);
    expect(looksLikeCardNumber('4242')).toBe(false);
    expect(looksLikeCardNumber('pm_card_visa')).toBe(false);
  });
});
