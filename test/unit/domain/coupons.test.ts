import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type CustomerDiscount,
  discountPeriodOf,
  invoiceDiscounts,
  isDiscountable,
} from '../../../shared/domain/coupons.ts';
import { withLineIds } from '../../../shared/domain/invoice.ts';
import { taxedInvoice } from '../../../shared/domain/invoice-tax.ts';

const RUNS = Number(process.env.PROPERTY_RUNS ?? 300);

const invoice = {
  billing_reason: 'subscription_cycle' as const,
  id: 'in_1',
  subscription_id: 'sub_1',
  period_start: 'P1',
  period_end: 'P2',
  next_period_start: 'P2',
  currency: 'USD',
};
const AT = new Date('2026-02-01T00:00:00.000Z');
const line = (
  amount: number,
  kind: 'subscription_fee' | 'proration' | 'threshold_credit' = 'subscription_fee',
) => ({
  kind,
  description: kind,
  quantity: null,
  price_id: null,
  metric: null,
  amount,
  plan_id: null,
  period_start: 'P1',
  period_end: 'P2',
  pending_item_id: null,
  records: null,
  records_digest: null,
  records_kept_until: null,
});

const discount = (
  id: string,
  coupon: Partial<CustomerDiscount['coupon']>,
  more: Partial<CustomerDiscount> = {},
): CustomerDiscount => ({
  id,
  customer_id: 'c',
  subscription_id: null,
  coupon: {
    id: `co_${id}`,
    name: id,
    percent_off: null,
    amount_off: null,
    currency: null,
    duration: 'forever',
    duration_in_periods: null,
    max_redemptions: null,
    redeem_by: null,
    ...coupon,
  },
  discounted_periods: [],
  ended_at: null,
  created_at: '2026-01-01T00:00:00.000Z',
  updated_at: '2026-01-01T00:00:00.000Z',
  version: 1,
  ...more,
});

describe('which discounts an invoice takes', () => {
  const period = discountPeriodOf(invoice);

  it('the customer’s and its own subscription’s, live, with the period in their duration; oldest first', () => {
    const discounts = [
      discount('bb', { percent_off: '10' }, { created_at: '2026-01-02T00:00:00.000Z' }),
      discount('a', { amount_off: 100, currency: 'USD' }, { created_at: '2026-01-01T00:00:00.000Z' }),
      discount('other', { percent_off: '50' }, { subscription_id: 'sub_2' }),
      discount('ended', { percent_off: '50' }, { ended_at: '2026-01-02T00:00:00.000Z' }),
      discount('usedUp', { percent_off: '50', duration: 'once' }, { discounted_periods: ['sub_1#P0'] }),
      discount('euros', { amount_off: 100, currency: 'EUR' }),
      discount(
        'samePeriod',
        { percent_off: '1', duration: 'once' },
        { discounted_periods: [period], created_at: '2026-01-03T00:00:00.000Z' },
      ),
    ];
    const { lines, changed, unchanged } = invoiceDiscounts(invoice, [line(10_000)], discounts, AT);
    // 100 off first (older), then 10 % of the 9900 left (990), then 1 % of 8910 (89.1 → 89); the
    // EUR amount off takes nothing off a USD invoice.
    expect(lines.map((l) => [l.discount_id, l.amount])).toEqual([
      ['a', -100],
      ['bb', -990],
      ['samePeriod', -89],
    ]);
    // The period (and the amount off used in it) is recorded by those it is new to.
    expect(
      changed.map(({ before, after }) => [before.id, after.discounted_periods, after.amounts_off_used]),
    ).toEqual([
      ['a', [period], { [period]: 100 }],
      ['bb', [period], undefined],
    ]);
    expect(unchanged.map((d) => d.id)).toEqual(['samePeriod']);
  });

  it('an amount off is off once per period: a second invoice of the period gets what is left of it', () => {
    const off = discount(
      'a',
      { amount_off: 500, currency: 'USD', duration: 'forever' },
      {
        discounted_periods: [period],
        amounts_off_used: { [period]: 300 },
      },
    );
    const { lines, changed } = invoiceDiscounts(invoice, [line(10_000)], [off], AT);
    expect(lines.map((l) => l.amount)).toEqual([-200]);
    expect(changed[0]!.after.amounts_off_used).toEqual({ [period]: 500 });
    const spent = { ...off, amounts_off_used: { [period]: 500 } };
    expect(invoiceDiscounts(invoice, [line(10_000)], [spent], AT).lines).toEqual([]);
  });

  it('discounts only what is never credited back: usage, one-time, fees in arrears; not fees in advance or prorations', () => {
    const half = discount('h', { percent_off: '50', duration: 'forever' });
    const advance = { ...line(2_000), period_start: 'P2' }; // the next period's fee, billed in advance
    const lines = [line(1_000), advance, line(-3_000, 'proration'), line(500, 'proration')];
    // Only the 1000 fee in arrears is discounted: a downgrade can never credit back a discount.
    expect(invoiceDiscounts(invoice, lines, [half], AT).lines.map((l) => l.amount)).toEqual([-500]);
    const usage = { ...line(800), kind: 'usage' as const };
    const creditOnly = [line(-3_000, 'proration'), usage];
    expect(invoiceDiscounts(invoice, creditOnly, [half], AT).lines.map((l) => l.amount)).toEqual([-400]);
    // The close discounts the period's whole usage; the threshold invoices' credit is not netted
    // (they were not discounted), and a threshold invoice takes no discount.
    const close = invoiceDiscounts(
      invoice,
      [{ ...line(3_000), kind: 'usage' }, line(-1_000, 'threshold_credit')],
      [half],
      AT,
    );
    expect(close.lines.map((l) => l.amount)).toEqual([-1_500]);
    const threshold = { ...invoice, billing_reason: 'subscription_threshold' as const };
    expect(invoiceDiscounts(threshold, [{ ...line(3_000), kind: 'usage' }], [half], AT).lines).toEqual([]);
    // Nothing discountable: nothing taken, no period used.
    expect(invoiceDiscounts(invoice, [advance, line(-300, 'proration')], [half], AT)).toEqual({
      lines: [],
      changed: [],
      unchanged: [],
    });
  });

  it('an invoice of no length belongs to the period it opens; one-off invoices to themselves', () => {
    expect(discountPeriodOf(invoice)).toBe('sub_1#P1');
    expect(discountPeriodOf({ ...invoice, period_end: 'P1', next_period_start: 'P1' })).toBe('sub_1#P1');
    expect(
      discountPeriodOf({ ...invoice, period_start: 'T', period_end: 'T', next_period_start: 'P1' }),
    ).toBe('sub_1#P1');
    const oneOff = { ...invoice, id: 'in_x', subscription_id: null };
    expect(discountPeriodOf(oneOff)).toBe('invoice#in_x');
    const own = discount('s', { percent_off: '10' }, { subscription_id: 'sub_1' });
    expect(invoiceDiscounts(oneOff, [line(1_000)], [own], AT).lines).toEqual([]);
  });

  it('a coupon held twice (two redemptions that raced) applies once', () => {
    const twice = [
      discount('x1', { id: 'co_same', percent_off: '10' }),
      discount('x2', { id: 'co_same', percent_off: '10' }),
    ];
    expect(invoiceDiscounts(invoice, [line(1_000)], twice, AT).lines.map((l) => l.amount)).toEqual([-100]);
  });
});

describe('a discounted invoice is taxed on what the discounts left', () => {
  it('any charge lines, one percent coupon, an exclusive rate: each line taxed on amount − share, figures add up', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 5_000_000 }), { minLength: 1, maxLength: 8 }),
        fc.integer({ min: 1, max: 100 }),
        fc.integer({ min: 0, max: 300_000 }),
        (amounts, percent, rateUnits) => {
          const rate = {
            id: 'r',
            display_name: 'r',
            jurisdiction: null,
            percentage: String(rateUnits / 10_000),
            inclusive: false,
          };
          const charges = amounts.map((a) => line(a));
          const { lines: discountLines } = invoiceDiscounts(
            invoice,
            charges,
            [discount('p', { percent_off: String(percent) })],
            AT,
          );
          const all = withLineIds('in_1', [...charges, ...discountLines]);
          const taxed = taxedInvoice(all, [rate], (l) => isDiscountable(l, invoice));
          const sum = amounts.reduce((a, b) => a + b, 0);
          const off = 0 - (discountLines[0]?.amount ?? 0);
          // The discount, stated independently: the percent of the whole, rounded half up once.
          expect(off).toBe(Math.floor((sum * percent) / 100 + 0.5));
          expect(taxed.subtotal).toBe(sum - off);
          const shares = taxed.lines
            .filter((l) => l.kind !== 'discount')
            .map((l, i) => amounts[i]! - l.taxes[0]!.taxable_amount);
          expect(shares.reduce((a, b) => a + b, 0)).toBe(off);
          shares.forEach((share, i) => {
            expect(share).toBeGreaterThanOrEqual(0);
            expect(share).toBeLessThanOrEqual(amounts[i]!);
          });
          taxed.lines
            .filter((l) => l.kind !== 'discount')
            .forEach((l) => {
              // Within half a unit of (amount − share) × rate, in exact integers.
              const exact = BigInt(l.taxes[0]!.taxable_amount) * BigInt(rateUnits);
              const diff = 2n * (BigInt(l.taxes[0]!.amount) * 1_000_000n - exact);
              expect(diff <= 1_000_000n && diff >= -1_000_000n).toBe(true);
            });
          expect(taxed.total).toBe(taxed.subtotal + taxed.tax);
        },
      ),
      { numRuns: RUNS },
    );
  });
});
