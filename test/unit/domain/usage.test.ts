import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Price } from '../../../shared/domain/catalog.ts';
import { newSubscription } from '../../../shared/domain/subscription.ts';
import {
  compareQuantities,
  decideUsage,
  MAX_FUTURE_SKEW_MS,
  sumQuantities,
  usagePeriodFor,
} from '../../../shared/domain/usage.ts';
import { choiceFixture, planFixture } from '../../support/catalog-fixtures.ts';

const created = new Date('2026-03-10T00:00:00Z');
const subscription = newSubscription(
  { id: 's', customerId: 'c', items: [choiceFixture(planFixture())], trialDays: 0 },
  created,
);
const price = { id: 'p', active: true, metric: 'calls', model: 'per_unit' } as Price;

describe('usage quantities', () => {
  it('sum exactly, whatever the order and however many decimals', () => {
    expect(sumQuantities(['0.1', '0.2'])).toBe('0.3');
    expect(sumQuantities(['1.000001', '2', '0.999999'])).toBe('4');
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 10 ** 12 }), { maxLength: 50 }), (millionths) => {
        const texts = millionths.map((m) =>
          sumQuantities([`${Math.floor(m / 1e6)}.${String(m % 1e6).padStart(6, '0')}`]),
        );
        const total = millionths.reduce((a, b) => a + BigInt(b), 0n);
        expect(sumQuantities(texts)).toBe(
          sumQuantities([`${total / 1_000_000n}.${String(total % 1_000_000n).padStart(6, '0')}`]),
        );
        expect(sumQuantities([...texts].reverse())).toBe(sumQuantities(texts));
      }),
    );
    expect(compareQuantities('10', '9.999999')).toBe(1);
    expect(compareQuantities('2.50', '2.5')).toBe(0);
  });
});

describe('which records count', () => {
  const now = new Date('2026-03-20T00:00:00Z');

  it('a record belongs to the calendar period of its timestamp', () => {
    expect(usagePeriodFor(subscription, new Date('2026-04-15T00:00:00Z'))).toEqual({
      start: new Date('2026-04-10T00:00:00Z'),
      end: new Date('2026-05-10T00:00:00Z'),
    });
    expect(usagePeriodFor(subscription, new Date('2026-03-09T23:59:59Z'))).toBeUndefined();
  });

  it('refuses, naming the field: unknown subscription, future timestamp, unknown metric, before the start', () => {
    const field = (d: ReturnType<typeof decideUsage>) => (d.ok ? 'ok' : d.errors[0]!.field);
    expect(field(decideUsage(undefined, () => [price], 'calls', now, now))).toBe('subscription_id');
    expect(
      field(
        decideUsage(
          subscription,
          () => [price],
          'calls',
          new Date(now.getTime() + MAX_FUTURE_SKEW_MS + 1),
          now,
        ),
      ),
    ).toBe('timestamp');
    expect(
      field(
        decideUsage(subscription, () => [price], 'calls', new Date(now.getTime() + MAX_FUTURE_SKEW_MS), now),
      ),
    ).toBe('ok');
    expect(field(decideUsage(subscription, () => [price], 'other', now, now))).toBe('metric');
    expect(field(decideUsage(subscription, () => [{ ...price, active: false }], 'calls', now, now))).toBe(
      'metric',
    );
    expect(
      field(decideUsage(subscription, () => [price], 'calls', new Date('2026-01-01T00:00:00Z'), now)),
    ).toBe('timestamp');
  });

  it('a canceled subscription takes usage from before the cancellation only', () => {
    const canceled = {
      ...subscription,
      status: 'canceled' as const,
      canceled_at: '2026-03-15T00:00:00.000Z',
    };
    expect(decideUsage(canceled, () => [price], 'calls', new Date('2026-03-14T00:00:00Z'), now).ok).toBe(
      true,
    );
    expect(
      decideUsage(canceled, () => [price], 'calls', new Date('2026-03-16T00:00:00Z'), now),
    ).toMatchObject({
      ok: false,
      status: 409,
    });
  });

  it('a record stamped ahead of the clock counts in the period it arrives in, never in one not started', () => {
    const end = new Date(subscription.current_period_end);
    const arrives = new Date(end.getTime() - 60_000);
    const ahead = decideUsage(
      subscription,
      () => [price],
      'calls',
      new Date(end.getTime() + 60_000),
      arrives,
    );
    expect(ahead).toMatchObject({
      ok: true,
      period: { start: new Date(subscription.current_period_start), end },
    });
  });

  it('after a cancellation at period end is scheduled, usage past that end is refused', () => {
    const ending = { ...subscription, cancel_at_period_end: true };
    const after = new Date(new Date(subscription.current_period_end).getTime() + 60_000);
    expect(decideUsage(ending, () => [price], 'calls', after, after)).toMatchObject({
      ok: false,
      status: 409,
    });
  });

  it('a late record is rated with the plan the subscription was on at its timestamp', () => {
    const changed = {
      ...subscription,
      plan_id: 'plan-pro',
      items: [{ ...subscription.items[0]!, plan_id: 'plan-pro' }],
      earlier_plans: [{ plan_id: 'plan-basic', until: '2026-03-15T00:00:00.000Z' }],
    };
    const basicPrice = { ...price, id: 'basic-calls' };
    const proPrice = { ...price, id: 'pro-calls' };
    const pricesOf = (planId: string) => (planId === 'plan-basic' ? [basicPrice] : [proPrice]);
    const late = decideUsage(changed, pricesOf, 'calls', new Date('2026-03-14T00:00:00Z'), now);
    const fresh = decideUsage(changed, pricesOf, 'calls', new Date('2026-03-16T00:00:00Z'), now);
    expect([late.ok && late.price.id, fresh.ok && fresh.price.id]).toEqual(['basic-calls', 'pro-calls']);
  });
});
