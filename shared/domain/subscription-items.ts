import type { Period } from './billing-period.ts';
import type { Plan } from './catalog.ts';
import { DomainError, type FieldError } from './errors.ts';
import {
  type Charge,
  type FeeState,
  type PlanFee,
  type ProrationBehavior,
  planChangeCharges,
} from './fees.ts';

/**
 * The items of a subscription (docs/billing-rules.md, "Items"): a base plan and add-ons, each of its
 * own plan, all in the subscription's currency and interval. An item's flat fee is its plan's fee
 * times its quantity (seats); each item carries its own fee state, so adding, removing or
 * re-quantifying one is billed by the same rules as a plan change, on that item alone.
 */
export type SubscriptionItem = FeeState & {
  plan_id: string;
  /**
   * Units of the plan's fee billed (seats). 0 only for an item removed with
   * `proration_behavior: none`: it stays billed until the period ends, as the old plan does after a
   * plan change with `none` (its fee in arrears is billed then; prepaid, a cancel credits it).
   */
  quantity: number;
};

/** Items one subscription holds at most (each is a line or two of every invoice it makes). */
export const MAX_ITEMS = 20;

/** A quantity above this is refused: far beyond seats, and it keeps every fee far below 2^53. */
export const MAX_ITEM_QUANTITY = 100_000;

/**
 * An item's fee for a whole period may be at most this (minor units): like a usage line's bound,
 * it keeps every invoice total exactly representable however many lines it has.
 */
export const MAX_ITEM_FEE = 1_000_000_000_000;

/**
 * The fee an item bills: its plan's fee times its quantity, named with the quantity when not 1.
 * Billing never refuses what it already sold: the bound (MAX_ITEM_FEE) is checked when an item is
 * added or re-quantified (checkItems), and a plan repriced since still closes, cancels and changes;
 * only a product past 2^53, which no number holds exactly, is an error (409: the plan's fee must come
 * down first).
 */
export function itemFee(plan: PlanFee, quantity: number): PlanFee {
  const fee = plan.fee * quantity;
  if (!Number.isSafeInteger(fee)) {
    throw new DomainError(
      'conflict',
      `${quantity} × the fee of plan ${plan.plan_id} (${plan.fee}) passes 2^53 and cannot be billed exactly: archive some of the plan's flat prices, or lower the item's quantity`,
    );
  }
  return { ...plan, fee, name: quantity === 1 ? plan.name : `${plan.name} × ${quantity}` };
}

/** Items billed from now on (an item kept only to bill its arrears to the period's end is not). */
export const liveItems = (items: readonly SubscriptionItem[]): SubscriptionItem[] =>
  items.filter((item) => item.quantity > 0);

/** The plans of the live items, base plan first: what usage is rated with now. */
export const livePlans = (items: readonly SubscriptionItem[]): string[] =>
  liveItems(items).map((item) => item.plan_id);

/** The base plan: the first live item's (it names the subscription's plan_id, routing and timing). */
export const basePlanOf = (items: readonly SubscriptionItem[]): string =>
  (liveItems(items)[0] ?? items[0])!.plan_id;

/**
 * Whether an item removed with `proration_behavior: none` must stay to its period's end: when its
 * billed fee is not zero (in arrears it is billed then; prepaid, a cancel before then credits its
 * time not used), as the old plan's does after a plan change with `none`.
 */
export const billsToPeriodEnd = (state: FeeState): boolean => (state.billed_fee?.fee ?? 0) > 0;

/**
 * What a request asks the subscription to hold: plans in order, each with its quantity; `replaces`
 * names the current item whose place it takes (a change of the base plan).
 */
export type DesiredItem = { plan_id: string; quantity: number; replaces?: string | undefined };

/** Same plans, same quantities, same order: nothing to change. */
export const sameItems = (items: readonly SubscriptionItem[], desired: readonly DesiredItem[]): boolean => {
  const live = liveItems(items);
  return (
    live.length === desired.length &&
    live.every((item, i) => item.plan_id === desired[i]!.plan_id && item.quantity === desired[i]!.quantity)
  );
};

/**
 * A change of items within one period (same interval): each item whose plan or quantity changes is
 * billed as a plan change of that item alone (planChangeCharges), from its fee before (its plan's
 * fee times its old quantity; the fee it bills is in its state) to its fee after: the credit for its
 * prepaid time not used or its used time in arrears, and the charge for the time left when billed in
 * advance. An added item comes from nothing (quantity 0), a removed one goes to nothing; an item
 * whose plan is replaced (`replaces`: a change of the base plan) keeps its place and its state, so
 * with `none` its old fee stays billed to the period's end as a plan change's does. An unchanged
 * item is untouched. Returns the charges, item by item, and the items that follow, in the requested
 * order (a removed item still billed to the period's end last).
 */
export function itemChangeCharges(
  items: readonly SubscriptionItem[],
  desired: readonly DesiredItem[],
  fees: (planId: string) => PlanFee,
  period: Period,
  at: Date,
  behavior: ProrationBehavior,
  currency: string,
): { charges: Charge[]; items: SubscriptionItem[] } {
  const current = new Map(items.map((item) => [item.plan_id, item]));
  const successors = new Map(
    desired.flatMap((d) =>
      d.replaces !== undefined &&
      d.replaces !== d.plan_id &&
      current.has(d.replaces) &&
      !current.has(d.plan_id)
        ? [[d.replaces, d] as const]
        : [],
    ),
  );
  const charges: Charge[] = [];
  const after = new Map<string, SubscriptionItem>();
  const transition = (fromPlan: string, fromQuantity: number, state: FeeState, to: DesiredItem) => {
    const change = planChangeCharges(
      itemFee(fees(fromPlan), fromQuantity),
      itemFee(fees(to.plan_id), to.quantity),
      period,
      state,
      at,
      behavior,
      currency,
    );
    charges.push(...change.charges);
    if (to.quantity > 0 || (behavior === 'none' && billsToPeriodEnd(change.state))) {
      const { fee_segment_start, fee_prepaid, billed_fee } = change.state;
      after.set(to.plan_id, {
        plan_id: to.plan_id,
        quantity: to.quantity,
        fee_segment_start,
        fee_prepaid,
        billed_fee,
      });
    }
  };
  for (const item of items) {
    const successor = successors.get(item.plan_id);
    const quantity = desired.find((d) => d.plan_id === item.plan_id)?.quantity ?? 0;
    if (successor) transition(item.plan_id, item.quantity, item, successor);
    else if (quantity === item.quantity) after.set(item.plan_id, item);
    else transition(item.plan_id, item.quantity, item, { plan_id: item.plan_id, quantity });
  }
  for (const d of desired) {
    if (current.has(d.plan_id) || after.has(d.plan_id)) continue;
    // A new item has billed nothing in this period yet.
    transition(
      d.plan_id,
      0,
      { fee_segment_start: at.toISOString(), fee_prepaid: false, billed_fee: itemFee(fees(d.plan_id), 0) },
      d,
    );
  }
  return {
    charges,
    items: [
      ...desired.map((d) => after.get(d.plan_id)!),
      ...[...after.values()].filter((item) => item.quantity === 0),
    ],
  };
}

/** A plan a request puts on a subscription, resolved from the catalog, with its quantity. */
export type ItemChoice = {
  plan: Plan;
  /** The plan's fee now, at quantity 1. */
  fee: PlanFee;
  quantity: number;
  /** The metrics the plan's active prices rate. */
  metrics: readonly string[];
  /** The current item whose place it takes (a change of the base plan), if any. */
  replaces?: string | undefined;
};

/** Where a request named each item: `items.<i>.<field>`, or `plan_id` for the one-item shorthand. */
export type ItemField = (index: number, field: 'plan_id' | 'quantity') => string;

export const itemsField: ItemField = (index, field) => `items.${index}.${field}`;

/**
 * The rules every set of items keeps (docs/billing-rules.md, "Items"): at least one and at most
 * MAX_ITEMS, active plans, each plan once (quantity says how many), one currency and one interval
 * (the first item's, which must be `currency` when the subscription has one), each metric rated by
 * one item, and no new item's fee past what an invoice line may bill. Plans in `keeping` (with their
 * quantities) are already on the subscription: they may stay though archived or repriced since, and
 * what they price was checked then.
 */
export function checkItems(
  choices: readonly ItemChoice[],
  currency: string | null,
  field: ItemField,
  keeping: ReadonlyMap<string, number> = new Map(),
): void {
  if (choices.length === 0 || choices.length > MAX_ITEMS) {
    throw new DomainError('unprocessable', `A subscription holds 1 to ${MAX_ITEMS} items`, [
      { field: 'items', message: `must hold 1 to ${MAX_ITEMS} items` },
    ]);
  }
  const first = choices[0]!.plan;
  const errors: FieldError[] = [];
  choices.forEach((choice, i) => {
    const { plan } = choice;
    if (!plan.active && !keeping.has(plan.id)) {
      throw new DomainError('conflict', `Plan ${plan.id} is archived; choose an active plan`, [
        { field: field(i, 'plan_id'), message: `plan ${plan.id} is archived` },
      ]);
    }
    if (currency !== null && plan.currency !== currency) {
      throw new DomainError(
        'conflict',
        `Plan ${plan.id} is priced in ${plan.currency} but this subscription bills in ${currency}`,
        [{ field: field(i, 'plan_id'), message: `is priced in ${plan.currency}, not ${currency}` }],
      );
    }
    const earlier = choices.findIndex((other) => other.plan.id === plan.id);
    if (earlier < i) {
      errors.push({
        field: field(i, 'plan_id'),
        message: `plan ${plan.id} is already item ${earlier}; raise its quantity instead`,
      });
    } else if (plan.currency !== first.currency) {
      errors.push({
        field: field(i, 'plan_id'),
        message: `is priced in ${plan.currency}; every item bills in ${first.currency}, the first item's currency`,
      });
    } else if (plan.interval !== first.interval) {
      errors.push({
        field: field(i, 'plan_id'),
        message: `bills every ${plan.interval}; every item bills every ${first.interval}, as the first item does`,
      });
    }
    const shared = choice.metrics.find((metric) =>
      choices
        .slice(0, i)
        .some(
          (other) =>
            other.plan.id !== plan.id &&
            !(keeping.has(plan.id) && keeping.has(other.plan.id)) &&
            other.metrics.includes(metric),
        ),
    );
    if (shared !== undefined) {
      const owner = choices.findIndex((other) => other.metrics.includes(shared));
      errors.push({
        field: field(i, 'plan_id'),
        message: `plan ${plan.id} prices "${shared}", which item ${owner} (plan ${choices[owner]!.plan.id}) rates; a metric is rated by one item`,
      });
    }
    // An item kept as it is may bill past the bound after its plan was repriced; a new quantity may not.
    const fee = choice.fee.fee * choice.quantity;
    if (keeping.get(plan.id) !== choice.quantity && fee > MAX_ITEM_FEE) {
      errors.push({
        field: field(i, 'quantity'),
        message: `${choice.quantity} × ${choice.fee.fee} passes ${MAX_ITEM_FEE} minor units, more than an invoice line may bill`,
      });
    }
  });
  if (!Number.isSafeInteger(budgetOf(choices))) {
    errors.push({
      field: 'items',
      message: "the items' plans' budgets add up past 2^53; set total_budget instead",
    });
  }
  if (errors.length > 0) {
    throw new DomainError('unprocessable', errors.map((e) => `${e.field}: ${e.message}`).join('; '), errors);
  }
}

/** The budget of a set of items: the sum of their plans' budgets (each plan once, whatever its quantity). */
export const budgetOf = (choices: readonly ItemChoice[]): number =>
  choices.reduce((sum, choice) => sum + choice.plan.total_budget, 0);

/** The fee state of an item from the moment `at`, its plan's fee now. */
export function itemFrom(
  choice: DesiredItem,
  fees: (planId: string) => PlanFee,
  at: string,
  prepaid: boolean,
): SubscriptionItem {
  const fee = itemFee(fees(choice.plan_id), choice.quantity);
  return {
    plan_id: choice.plan_id,
    quantity: choice.quantity,
    fee_segment_start: at,
    fee_prepaid: prepaid && fee.timing === 'in_advance',
    billed_fee: fee,
  };
}

export const desiredOf = (choices: readonly ItemChoice[]): DesiredItem[] =>
  choices.map((choice) => ({
    plan_id: choice.plan.id,
    quantity: choice.quantity,
    replaces: choice.replaces,
  }));

export const feesOf =
  (choices: readonly ItemChoice[], more?: (planId: string) => PlanFee): ((planId: string) => PlanFee) =>
  (planId) => {
    const found = choices.find((choice) => choice.plan.id === planId)?.fee;
    if (found) return found;
    if (more) return more(planId);
    throw new Error(`The fee of plan ${planId} is required for this change`);
  };
