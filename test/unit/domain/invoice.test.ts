import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Price } from '../../../shared/domain/catalog.ts';
import { DomainError } from '../../../shared/domain/errors.ts';
import type { Charge } from '../../../shared/domain/fees.ts';
import {
  applyCredit,
  chargeLines,
  type InvoiceStatus,
  invoiceIdFor,
  invoiceNumber,
  nextInvoiceStatus,
  type PaymentFailure,
  totalsOf,
  usageLines,
  withPaymentFailure,
} from '../../../shared/domain/invoice.ts';
import { untaxed } from '../../../shared/domain/invoice-tax.ts';
import { rateUsage } from '../../../shared/domain/rating.ts';
import { usagePriceFixture } from '../../support/catalog-fixtures.ts';
import { openInvoiceFixture } from '../../support/fixtures.ts';

const price = (overrides: Partial<Price>): Price => usagePriceFixture({ id: 'p', ...overrides });

const decimal = fc
  .tuple(fc.integer({ min: 0, max: 5000 }), fc.integer({ min: 0, max: 9999 }))
  .map(([w, f]) => `${w}.${String(f).padStart(4, '0')}`);

describe('invoice lines and totals', () => {
  it('the total is exactly the sum of the lines, each rated once, for any fees, usage and prorations', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 10_000_000 }), { maxLength: 3 }),
        fc.array(fc.tuple(decimal, fc.integer({ min: 0, max: 1_000_000 })), { maxLength: 5 }),
        fc.array(fc.integer({ min: -5_000_000, max: 5_000_000 }), { maxLength: 4 }),
        (fees, usage, prorations) => {
          const charge = (kind: Charge['kind'], amount: number, i: number): Charge & { id: string } => ({
            id: `c${kind}${i}`,
            kind,
            amount,
            currency: 'USD',
            plan_id: 'plan',
            description: kind,
            period_start: '2026-03-10T00:00:00.000Z',
            period_end: '2026-04-01T00:00:00.000Z',
          });
          const lines = [
            ...chargeLines(fees.map((amount, i) => charge('fee', amount, i))),
            ...usageLines(
              usage.map(([unit, quantity], i) => ({
                metric: `m${i}`,
                quantity: String(quantity),
                price: price({ id: `u${i}`, metric: `m${i}`, unit_amount_decimal: unit }),
              })),
              '2026-03-01T00:00:00.000Z',
              '2026-04-01T00:00:00.000Z',
            ),
            ...chargeLines(
              prorations.map((amount, i) =>
                charge(amount < 0 ? 'proration_credit' : 'proration_charge', amount, i),
              ),
            ),
          ];
          const { total, amount_due } = totalsOf(lines);
          expect(total).toBe(lines.reduce((sum, line) => sum + line.amount, 0));
          expect(lines.every((line) => Number.isSafeInteger(line.amount))).toBe(true);
          expect(lines).toHaveLength(fees.length + usage.length + prorations.length);
          expect(lines.filter((l) => l.kind === 'subscription_fee')).toHaveLength(fees.length);
          expect(lines.filter((l) => l.kind === 'proration')).toHaveLength(prorations.length);
          lines
            .filter((l) => l.kind === 'usage')
            .forEach((line) => {
              const [unit, quantity] = usage[Number(line.metric!.slice(1))]!;
              expect(line.amount).toBe(rateUsage(price({ unit_amount_decimal: unit }), String(quantity)));
            });
          expect(amount_due).toBe(Math.max(total, 0));
        },
      ),
    );
  });

  it('one moment always maps to one invoice id; another moment or subscription to another', () => {
    expect(invoiceIdFor('s1', '2026-03-01T00:00:00.000Z')).toBe(
      invoiceIdFor('s1', '2026-03-01T00:00:00.000Z'),
    );
    expect(invoiceIdFor('s1', '2026-03-01T00:00:00.000Z')).not.toBe(
      invoiceIdFor('s1', '2026-04-01T00:00:00.000Z'),
    );
    expect(invoiceIdFor('s1', '2026-03-01T00:00:00.000Z')).not.toBe(
      invoiceIdFor('s2', '2026-03-01T00:00:00.000Z'),
    );
    expect(invoiceIdFor('s1', 'create')).not.toBe(invoiceIdFor('s1', 'update#3'));
  });

  it("numbers read <the customer's prefix>-<sequence>", () => {
    expect(invoiceNumber('K7QX2M9P', 7)).toBe('K7QX2M9P-0007');
    expect(invoiceNumber('K7QX2M9P', 12345)).toBe('K7QX2M9P-12345');
  });
});

describe('credit balance', () => {
  it('nothing is lost: what is owed net (due − credit held) moves by exactly the total, neither goes below zero', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -10_000_000, max: 10_000_000 }),
        fc.integer({ min: 0, max: 10_000_000 }),
        (total, balance) => {
          const credit = applyCredit(total, balance);
          expect(credit.amount_due - credit.balance).toBe(total - balance);
          expect(credit.amount_due).toBeGreaterThanOrEqual(0);
          expect(credit.balance).toBeGreaterThanOrEqual(0);
          // Credit is used before anything is charged: something is due only once the balance is gone.
          if (credit.amount_due > 0) expect(credit.balance).toBe(0);
        },
      ),
    );
  });

  it('a downgrade credit of 750 pays 750 of the next 1000; a total of −750 leaves 750', () => {
    expect(applyCredit(-750, 0)).toEqual({
      credit_applied: 0,
      credited_to_balance: 750,
      amount_due: 0,
      balance: 750,
    });
    expect(applyCredit(1000, 750)).toEqual({
      credit_applied: 750,
      credited_to_balance: 0,
      amount_due: 250,
      balance: 0,
    });
  });
});

describe('invoice state machine', () => {
  const table: [InvoiceStatus, 'finalize' | 'pay' | 'void' | 'mark_uncollectible', InvoiceStatus | null][] = [
    ['draft', 'finalize', 'open'],
    ['draft', 'pay', null],
    ['draft', 'void', 'void'],
    ['open', 'pay', 'paid'],
    ['open', 'void', 'void'],
    ['open', 'mark_uncollectible', 'uncollectible'],
    ['open', 'finalize', null],
    ['uncollectible', 'pay', 'paid'],
    ['paid', 'void', null],
    ['paid', 'pay', null],
    ['void', 'pay', null],
    ['void', 'finalize', null],
  ];
  it.each(table)('%s --%s--> %s', (status, action, expected) => {
    if (expected) expect(nextInvoiceStatus(status, action)).toBe(expected);
    else expect(() => nextInvoiceStatus(status, action)).toThrow(DomainError);
  });
});

describe('declined attempts (from the pay call and from webhooks, in any order)', () => {
  const open = openInvoiceFixture({
    subscription_id: 's',
    billing_reason: 'subscription_cycle',
    period_end: '2026-02-01T00:00:00.000Z',
    bills_usage: true,
    next_period_start: '2026-02-01T00:00:00.000Z',
    next_period_end: '2026-03-01T00:00:00.000Z',
    ...untaxed(100),
    amount_due: 100,
    due_date: '2026-02-08T00:00:00.000Z',
    created_at: '2026-02-01T00:00:00.000Z',
    updated_at: '2026-02-01T00:00:00.000Z',
    finalized_at: '2026-02-01T00:00:00.000Z',
  });
  const failure = (attempt: number): PaymentFailure => ({
    payment_intent_id: `pi_${attempt}`,
    attempt,
    code: `code_${attempt}`,
    failed_at: '2026-02-02T00:00:00.000Z',
  });
  const apply = (failures: PaymentFailure[]) =>
    failures.reduce(
      (invoice, f) => withPaymentFailure(invoice, f, new Date('2026-02-03T00:00:00Z')) ?? invoice,
      open,
    );

  it('ends in the same state whatever the order and however often each decline arrives', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 6 }).map(failure), { minLength: 1, maxLength: 12 }),
        fc.context(),
        (failures, ctx) => {
          const shuffled = [...failures].reverse();
          const a = apply(failures);
          const b = apply([...shuffled, ...failures]);
          const highest = Math.max(...failures.map((f) => f.attempt));
          ctx.log(JSON.stringify({ a: a.last_payment_error, b: b.last_payment_error }));
          expect(a.payment_attempts).toBe(highest);
          expect(b.payment_attempts).toBe(highest);
          expect(a.last_payment_error).toEqual(failure(highest));
          expect(b.last_payment_error).toEqual(failure(highest));
          expect(a.stripe_payment_intent_id).toBe(`pi_${highest}`);
        },
      ),
    );
  });

  it('changes nothing once the invoice is no longer open, or when the decline is already known', () => {
    expect(withPaymentFailure({ ...open, status: 'paid' }, failure(1), new Date())).toBeUndefined();
    expect(withPaymentFailure({ ...open, status: 'void' }, failure(1), new Date())).toBeUndefined();
    // A written-off invoice can still be paid, so its declines count.
    expect(withPaymentFailure({ ...open, status: 'uncollectible' }, failure(1), new Date())).toMatchObject({
      payment_attempts: 1,
    });
    const once = withPaymentFailure(open, failure(1), new Date())!;
    expect(once.version).toBe(open.version + 1);
    expect(withPaymentFailure(once, failure(1), new Date())).toBeUndefined();
  });

  it('a decline of the attempt under way ends it, and an older decline does not', () => {
    const pending = {
      attempt: 2,
      payment_method: 'pm_1',
      payment_intent_id: 'pi_2',
      status: 'processing' as const,
      since: '2026-02-02T00:00:00.000Z',
    };
    const underWay = {
      ...open,
      payment_attempts: 1,
      last_payment_error: failure(1),
      pending_payment: pending,
    };
    expect(withPaymentFailure(underWay, failure(2), new Date())).toMatchObject({
      payment_attempts: 2,
      pending_payment: null,
    });
    expect(withPaymentFailure(underWay, failure(1), new Date())).toBeUndefined();
  });
});
