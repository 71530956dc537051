import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { recurringFee } from '../../../shared/domain/catalog.ts';
import { DomainError } from '../../../shared/domain/errors.ts';
import { chargeLines, totalsOf } from '../../../shared/domain/invoice.ts';
import { oneOffInvoice } from '../../../shared/domain/one-off-invoice.ts';
import {
  MAX_ONE_TIME_AMOUNT,
  MAX_ONE_TIME_QUANTITY,
  oneTimeAmount,
  oneTimeCharge,
  requireOneTimePrice,
} from '../../../shared/domain/one-time.ts';
import { rateUsage } from '../../../shared/domain/rating.ts';
import { oneTimePriceFixture } from '../../support/catalog-fixtures.ts';

const NOW = new Date('2026-05-10T12:00:00.000Z');
/** 10^12, written out: the largest one item may be. */
const TEN_TO_THE_12 = 1_000_000_000_000n;

/** What `quantity` units at `unit` owe, by repeated addition in bigints: no multiplication to share a bug with. */
const owedByAddition = (unit: number, quantity: number): bigint => {
  let sum = 0n;
  for (let i = 0; i < quantity; i++) sum += BigInt(unit);
  return sum;
};

describe('the amount of a one-time item', () => {
  it('is exactly quantity units added up, whenever that is at most 10^12 minor units', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1_000_000_000_000 }),
        fc.integer({ min: 1, max: 2000 }),
        (unit, q) => {
          const owed = owedByAddition(unit, q);
          if (owed > TEN_TO_THE_12) {
            expect(() => oneTimeAmount(unit, q)).toThrow(DomainError);
          } else {
            expect(BigInt(oneTimeAmount(unit, q))).toBe(owed);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('is exact at the largest quantities, where a float product would have to be trusted', () => {
    // 999_999 × 1_000_001 = 999_999_999_999 (just below 10^12), stated by hand.
    expect(oneTimeAmount(1_000_001, 999_999)).toBe(999_999_999_999);
    expect(oneTimeAmount(1_000_000, MAX_ONE_TIME_QUANTITY)).toBe(1_000_000_000_000);
    expect(MAX_ONE_TIME_AMOUNT).toBe(1e12);
  });

  it('past 10^12 is refused with a 422 naming the field and the bound', () => {
    try {
      oneTimeAmount(1_000_001, MAX_ONE_TIME_QUANTITY, 'items.0.quantity');
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(DomainError);
      const domain = error as DomainError;
      expect(domain.kind).toBe('unprocessable');
      expect(domain.fieldErrors[0]?.field).toBe('items.0.quantity');
      expect(domain.fieldErrors[0]?.message).toContain('10^12');
      expect(domain.fieldErrors[0]?.message).toContain('at most 999999 of this price');
    }
  });

  it('the 80 largest items an invoice can take still total exactly, far below 2^53', () => {
    const lines = chargeLines(
      Array.from({ length: 80 }, () =>
        oneTimeCharge(oneTimePriceFixture({ unit_amount: 1_000_000 }), MAX_ONE_TIME_QUANTITY, undefined, NOW),
      ),
    );
    expect(totalsOf(lines).total).toBe(80_000_000_000_000);
    expect(Number.isSafeInteger(totalsOf(lines).total)).toBe(true);
  });
});

describe('a one-time price', () => {
  it('never counts in a plan fee and never rates usage', () => {
    const oneTime = oneTimePriceFixture();
    const flat = { ...oneTimePriceFixture({ id: 'fee', model: 'flat', unit_amount: 1000 }), plan_id: 'plan' };
    expect(recurringFee([oneTime, flat])).toBe(1000);
    expect(() => rateUsage(oneTime, '3')).toThrow(/one-time price/);
  });

  it('sells only when active, one_time and in the invoice currency (422 naming the field)', () => {
    const refusal = (price: Parameters<typeof requireOneTimePrice>[0], currency: string) => {
      try {
        requireOneTimePrice(price, currency, 'price_id');
        return undefined;
      } catch (error) {
        return (error as DomainError).fieldErrors[0];
      }
    };
    expect(refusal(oneTimePriceFixture(), 'USD')).toBeUndefined();
    expect(refusal(oneTimePriceFixture(), 'EUR')).toEqual({
      field: 'price_id',
      message: 'price price-setup is in USD, the invoice is in EUR',
    });
    expect(refusal(oneTimePriceFixture({ active: false }), 'USD')?.message).toContain('archived');
    expect(refusal(oneTimePriceFixture({ model: 'flat' }), 'USD')?.message).toContain('not a one_time price');
    expect(refusal(undefined, 'USD')?.message).toBe('no such price');
  });
});

describe('a one-time line', () => {
  it('carries the price, the quantity and the unit amount, on an invoice of no subscription', () => {
    const charge = oneTimeCharge(oneTimePriceFixture(), 3, undefined, NOW);
    const invoice = oneOffInvoice('in_x', 'cus_1', 'USD', [charge], NOW);
    expect(invoice.lines).toEqual([
      {
        kind: 'one_time',
        description: 'Setup: 3 × 49.00 USD',
        quantity: '3',
        price_id: 'price-setup',
        metric: null,
        amount: 14_700,
        plan_id: null,
        period_start: NOW.toISOString(),
        period_end: NOW.toISOString(),
        pending_item_id: null,
        unit_amount: 4900,
        // Numbered on its invoice like every line; it is made of no usage records.
        id: expect.stringMatching(/^il_[0-9a-f]{24}$/),
        records: null,
        records_digest: null,
        records_kept_until: null,
        // Taxed when it is finalized.
        taxes: [],
      },
    ]);
    expect(invoice).toMatchObject({
      subscription_id: null,
      billing_reason: 'manual',
      bills_usage: false,
      next_period_start: null,
      total: 14_700,
      amount_due: 14_700,
    });
  });
});
