import { describe, expect, it } from 'vitest';
import { DomainError } from '../../../shared/domain/errors.ts';
import type { PlanFee } from '../../../shared/domain/fees.ts';
import { applyPatch, closeCurrentPeriod, newSubscription } from '../../../shared/domain/subscription.ts';
import { MAX_ITEM_FEE, MAX_ITEMS } from '../../../shared/domain/subscription-items.ts';
import { choiceFixture, feeFixture, planFixture } from '../../support/catalog-fixtures.ts';

const start = new Date('2026-03-01T00:00:00Z');
const mid = new Date('2026-03-16T12:00:00Z'); // exactly half of March
const base = planFixture({ id: 'base' });
const seats = planFixture({ id: 'seats', name: 'Seats', total_budget: 0 });

/** Each plan's fee now, from a table (a plan missing from it is a test bug). */
const feesOf =
  (table: Record<string, number>) =>
  (planId: string): PlanFee => {
    const fee = table[planId];
    if (fee === undefined) throw new Error(`no fee for ${planId}`);
    return feeFixture(planFixture({ id: planId, name: planId }), fee);
  };

describe('items past what an invoice line may bill', () => {
  it('a quantity whose fee passes 10^12 is refused when added, naming its field', () => {
    const expensive = choiceFixture(seats, 10_000_001, 100_000);
    expect(() =>
      newSubscription(
        { id: 's', customerId: 'c', items: [choiceFixture(base), expensive], trialDays: 0 },
        start,
      ),
    ).toThrow(
      expect.objectContaining({
        kind: 'unprocessable',
        fieldErrors: [expect.objectContaining({ field: 'items.1.quantity' })],
      }),
    );
  });

  it('a plan repriced past it after the sale still closes, changes and cancels: billing never refuses what it sold', () => {
    // 100 000 seats at 10 000 000 is exactly the bound when sold; then the plan's fee goes up by 1.
    const sold = newSubscription(
      {
        id: 's',
        customerId: 'c',
        items: [choiceFixture(base, 1000), choiceFixture(seats, 10_000_000, 100_000)],
        trialDays: 0,
      },
      start,
    );
    const repriced = feesOf({ base: 1000, seats: 10_000_001 });
    const { bill } = closeCurrentPeriod(sold, repriced, new Date('2026-04-01T00:00:00Z'));
    // The next period bills the seats at their fee now: 100 000 × 10 000 001, past the bound but exact.
    expect(bill.charges.map((c) => c.amount)).toEqual([1000, 100_000 * 10_000_001]);
    const canceled = applyPatch(sold, { cancelNow: true, fees: repriced }, mid);
    expect(canceled.bill?.charges.map((c) => c.amount)).toEqual([-500, -(MAX_ITEM_FEE / 2)]);
    // Fewer seats is a new quantity within the bound: accepted.
    const fewer = applyPatch(
      sold,
      {
        fees: repriced,
        items: [choiceFixture(base, 1000), choiceFixture(seats, 10_000_001, 10)],
      },
      mid,
    );
    expect(fewer.subscription.items.map((item) => item.quantity)).toEqual([1, 10]);
  });
});

describe('items removed with proration_behavior none count towards the bound', () => {
  it('a change that would keep more than MAX_ITEMS items to the period end is refused, naming proration_behavior', () => {
    const plans = (prefix: string) =>
      Array.from({ length: MAX_ITEMS }, (_, i) => planFixture({ id: `${prefix}${i}`, total_budget: 0 }));
    const first = plans('p');
    const second = plans('q');
    const fees = feesOf(Object.fromEntries([...first, ...second].map((plan) => [plan.id, 1000])));
    const subscription = newSubscription(
      { id: 's', customerId: 'c', items: first.map((plan) => choiceFixture(plan)), trialDays: 0 },
      start,
    );
    let refused: unknown;
    try {
      applyPatch(
        subscription,
        { fees, items: second.map((plan) => choiceFixture(plan)), prorationBehavior: 'none' },
        mid,
      );
    } catch (error) {
      refused = error;
    }
    expect(refused).toBeInstanceOf(DomainError);
    expect(refused).toMatchObject({
      kind: 'unprocessable',
      fieldErrors: [expect.objectContaining({ field: 'proration_behavior' })],
    });
    // Prorated, the removed items end now and the change fits: 20 credits and 20 charges of 500.
    const prorated = applyPatch(
      subscription,
      { fees, items: second.map((plan) => choiceFixture(plan)) },
      mid,
    );
    expect(prorated.subscription.items).toHaveLength(MAX_ITEMS);
    expect(prorated.pendingItems.map((item) => item.amount).sort()).toEqual([
      ...Array(MAX_ITEMS).fill(-500),
      ...Array(MAX_ITEMS).fill(500),
    ]);
  });
});
