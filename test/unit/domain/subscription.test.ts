import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Plan } from '../../../shared/domain/catalog.ts';
import { DomainError } from '../../../shared/domain/errors.ts';
import type { PlanFee } from '../../../shared/domain/fees.ts';
import {
  applyPatch,
  canTransition,
  newSubscription,
  nextStatus,
  type SubscriptionAction,
  type SubscriptionStatus,
} from '../../../shared/domain/subscription.ts';
import { choiceFixture, feesFixture, planFixture } from '../../support/catalog-fixtures.ts';

const start = new Date('2026-03-01T00:00:00Z');
const basic = planFixture();
const pro = planFixture({
  id: 'plan-pro',
  total_budget: 50_000,
  routing_policy: { priority: 1, match_expression: '*', strategy: 'weighted', targets: ['a'] },
});
const active = () =>
  newSubscription({ id: 's1', customerId: 'c1', items: [choiceFixture(basic)], trialDays: 0 }, start);

const STATUSES: SubscriptionStatus[] = ['trialing', 'active', 'past_due', 'canceled'];
const ACTIONS: SubscriptionAction[] = [
  'change_plan',
  'change_budget',
  'schedule_cancel',
  'unschedule_cancel',
  'cancel_now',
  'end_trial',
  'renew',
  'expire',
  'payment_failed',
  'payment_succeeded',
];

describe('subscription state machine', () => {
  it('a canceled subscription accepts no action at all', () => {
    for (const action of ACTIONS) {
      expect(() => nextStatus('canceled', action)).toThrowError(DomainError);
    }
  });

  it('refusals are 409 invalid-state-transition problems that name the status', () => {
    try {
      nextStatus('past_due', 'change_plan');
      expect.unreachable();
    } catch (error) {
      expect(error).toMatchObject({ kind: 'invalid-state-transition' });
      expect((error as Error).message).toMatch(/past_due/);
    }
  });

  it('every sequence of actions keeps a legal status and only cancel now or the end of a canceled period reaches canceled', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...STATUSES.slice(0, 2)),
        fc.array(fc.constantFrom(...ACTIONS), { maxLength: 20 }),
        (initial, actions) => {
          let status: SubscriptionStatus = initial;
          for (const action of actions) {
            if (!canTransition(status, action)) {
              expect(() => nextStatus(status, action)).toThrow();
              continue;
            }
            const next = nextStatus(status, action);
            expect(STATUSES).toContain(next);
            if (next === 'canceled') expect(['cancel_now', 'expire']).toContain(action);
            if (status === 'canceled') expect.unreachable();
            status = next;
          }
        },
      ),
    );
  });

  it('a trial starts trialing and ends into active; a failed payment makes it past_due and a payment heals it', () => {
    expect(nextStatus('trialing', 'end_trial')).toBe('active');
    expect(nextStatus('active', 'payment_failed')).toBe('past_due');
    expect(nextStatus('past_due', 'payment_succeeded')).toBe('active');
  });
});

describe('creating a subscription', () => {
  it('without a trial: active, one monthly period, the plan budget', () => {
    expect(active()).toMatchObject({
      status: 'active',
      current_period_start: '2026-03-01T00:00:00.000Z',
      current_period_end: '2026-04-01T00:00:00.000Z',
      total_budget: 10_000,
      total_budget_overridden: false,
      trial_end: null,
      version: 1,
    });
  });

  it('with a trial: trialing until the trial ends, which anchors the paid periods', () => {
    const trial = newSubscription(
      { id: 's2', customerId: 'c1', items: [choiceFixture(basic)], trialDays: 14 },
      start,
    );
    expect(trial).toMatchObject({
      status: 'trialing',
      trial_end: '2026-03-15T00:00:00.000Z',
      current_period_end: '2026-03-15T00:00:00.000Z',
      billing_cycle_anchor: '2026-03-15T00:00:00.000Z',
    });
  });

  it('refuses an archived plan', () => {
    expect(() =>
      newSubscription(
        {
          id: 's',
          customerId: 'c',
          items: [choiceFixture(planFixture({ active: false }))],
          trialDays: 0,
        },
        start,
      ),
    ).toThrow(/archived/);
  });
});

describe('changing a subscription', () => {
  const mid = new Date('2026-03-16T12:00:00Z'); // 15.5 of 31 days: exactly half the period
  const fee = (plan: Plan, amount: number): PlanFee => ({
    plan_id: plan.id,
    name: plan.name,
    fee: amount,
    timing: plan.fee_timing,
    interval: plan.interval,
  });
  const change = (plan: Plan, from: number, to: number) => ({
    fees: feesFixture(fee(basic, from), fee(plan, to)),
    items: [choiceFixture(plan, to)],
  });

  it('a mid-period plan change credits the unused old fee and charges the new, and takes the new budget', () => {
    const { subscription, pendingItems, bill, changes } = applyPatch(active(), change(pro, 1000, 3000), mid);
    expect(pendingItems.map((i) => [i.kind, i.amount])).toEqual([
      ['proration_credit', -500],
      ['proration_charge', 1500],
    ]);
    expect(bill).toBeNull();
    expect(subscription).toMatchObject({
      plan_id: 'plan-pro',
      total_budget: 50_000,
      version: 2,
      routing_policy: pro.routing_policy,
      items: [{ plan_id: 'plan-pro', quantity: 1, fee_segment_start: mid.toISOString(), fee_prepaid: true }],
    });
    expect(changes).toEqual(['items', 'plan_id', 'total_budget', 'routing_policy']);
  });

  it('always_invoice bills the same prorations on an invoice of their own, now', () => {
    const { pendingItems, bill } = applyPatch(
      active(),
      { ...change(pro, 1000, 3000), prorationBehavior: 'always_invoice' },
      mid,
    );
    expect(pendingItems).toEqual([]);
    expect(bill?.reason).toBe('subscription_update');
    expect(bill?.billsUsage).toBe(false);
    expect(bill?.charges.map((c) => c.amount)).toEqual([-500, 1500]);
  });

  it('none prorates nothing: the old plan stays billed to the period end, the new one from the next', () => {
    const { pendingItems, bill, subscription } = applyPatch(
      active(),
      { ...change(pro, 1000, 3000), prorationBehavior: 'none' },
      mid,
    );
    expect([pendingItems, bill]).toEqual([[], null]);
    // Pro is the plan now (budget, routing, usage prices), Basic's prepaid fee is still what is billed.
    // Pro is the plan now (budget, routing, usage prices) and bills from the next period; Basic's
    // prepaid fee stays billed to the period end (quantity 0: removed, kept until then).
    expect(subscription).toMatchObject({
      plan_id: 'plan-pro',
      items: [
        { plan_id: 'plan-pro', quantity: 1, fee_segment_start: mid.toISOString(), fee_prepaid: false },
        { plan_id: 'plan-basic', quantity: 0, fee_segment_start: start.toISOString(), fee_prepaid: true },
      ],
    });
    expect(subscription.items.map((item) => item.billed_fee?.fee)).toEqual([0, 1000]);
    // So a cancel later in the period credits Basic's unused time, not Pro's.
    const later = new Date('2026-03-24T00:00:00Z');
    const canceled = applyPatch(
      subscription,
      { cancelNow: true, fees: feesFixture(fee(basic, 1000), fee(pro, 3000)) },
      later,
    );
    expect(canceled.bill?.charges.map((c) => [c.plan_id, c.amount])).toEqual([['plan-basic', -258]]);
  });

  it('a budget set on the subscription survives a plan change', () => {
    const overridden = applyPatch(active(), { totalBudget: 777 }, mid).subscription;
    const { subscription } = applyPatch(overridden, change(pro, 0, 0), mid);
    expect(subscription.total_budget).toBe(777);
  });

  it('a plan change during a trial creates no proration', () => {
    const trial = newSubscription(
      { id: 's2', customerId: 'c1', items: [choiceFixture(basic)], trialDays: 14 },
      start,
    );
    const outcome = applyPatch(trial, change(pro, 1000, 3000), mid);
    expect([outcome.pendingItems, outcome.bill]).toEqual([[], null]);
  });

  it('a plan with another interval ends the period at the change, bills it now and re-anchors', () => {
    const yearly = planFixture({ id: 'plan-year', name: 'Annual', interval: 'year' });
    const { subscription, bill, pendingItems } = applyPatch(active(), change(yearly, 1000, 10_000), mid);
    expect(pendingItems).toEqual([]);
    expect(bill).toMatchObject({ reason: 'subscription_update', billsUsage: true });
    expect(bill?.period).toEqual({ start: start, end: mid });
    expect(bill?.charges.map((c) => [c.kind, c.amount])).toEqual([
      ['proration_credit', -500],
      ['fee', 10_000],
    ]);
    expect(subscription).toMatchObject({
      interval: 'year',
      billing_cycle_anchor: mid.toISOString(),
      current_period_start: mid.toISOString(),
      current_period_end: '2027-03-16T12:00:00.000Z',
      earlier_anchors: [{ anchor: start.toISOString(), interval: 'month', until: mid.toISOString() }],
    });
  });

  it('refuses a plan in another currency', () => {
    const eur = planFixture({ id: 'eur', currency: 'EUR' });
    expect(() => applyPatch(active(), change(eur, 0, 0), mid)).toThrow(/EUR/);
  });

  it('cancel at period end can be set and cleared; cancel now is final and bills at once', () => {
    const scheduled = applyPatch(active(), { cancelAtPeriodEnd: true }, mid).subscription;
    expect(scheduled).toMatchObject({ cancel_at_period_end: true, status: 'active', version: 2 });
    const resumed = applyPatch(scheduled, { cancelAtPeriodEnd: false }, mid).subscription;
    expect(resumed).toMatchObject({ cancel_at_period_end: false, version: 3 });
    const { subscription: canceled, bill } = applyPatch(
      resumed,
      { cancelNow: true, fees: feesFixture(fee(basic, 1000)) },
      mid,
    );
    expect(canceled).toMatchObject({ status: 'canceled', canceled_at: mid.toISOString() });
    expect(bill).toMatchObject({ reason: 'subscription_cancel', nextPeriod: null });
    expect(bill?.charges.map((c) => c.amount)).toEqual([-500]);
    const noCredit = applyPatch(
      resumed,
      { cancelNow: true, prorate: false, fees: feesFixture(fee(basic, 1000)) },
      mid,
    );
    expect(noCredit.bill?.charges).toEqual([]);
    expect(() => applyPatch(canceled, { totalBudget: 5 }, mid)).toThrow(DomainError);
    expect(() => applyPatch(canceled, { cancelNow: true, fees: feesFixture(fee(basic, 1000)) }, mid)).toThrow(
      DomainError,
    );
  });

  it('a patch that changes nothing keeps the version', () => {
    const current = active();
    const outcome = applyPatch(current, { totalBudget: current.total_budget, cancelAtPeriodEnd: false }, mid);
    expect(outcome.changes).toEqual([]);
    expect(outcome.subscription.version).toBe(1);
  });
});
