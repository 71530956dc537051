import type { BudgetRow } from '../smart-gateway/budget-row.ts';
import {
  type BudgetPolicy,
  DEFAULT_BUDGET_POLICY,
  invoiceThresholdsOf,
  thresholdHundredths,
  thresholdLabel,
  thresholdReached,
} from './budget-policy.ts';
import type { Price } from './catalog.ts';
import { roundHalfUp } from './money.ts';
import { rateUsage } from './rating.ts';
import { compareQuantities, sumQuantities } from './usage.ts';

/**
 * Billing's own view of a subscription's SmartGateway budget (docs/smart-gateway.md): the row the
 * gateway reads, computed here from the subscription's events, one subscription at a time and in
 * order, so nothing races. Usage arrives as counter-shard totals; each (period, metric, price) keeps
 * its shards' totals in a `SpendLedger` beside the projection, so applying usage reads and writes only
 * the ledgers it touches, however many metrics the subscription has. Every change moves `sequence`
 * on by one.
 */
export type SpendLedger = {
  period_start: string;
  period_end: string;
  metric: string;
  /** The price the usage was sold at (snapshot taken with the first record of the period). */
  price: Price;
  /** Each counter shard's total as the newest usage event said it; totals only grow in a period. */
  shards: Record<string, string>;
  /** The shards summed exactly and rated once with `price`, minor units. */
  rated: number;
};

export type BudgetProjection = {
  subscription_id: string;
  /** Null until the subscription's own event is seen (usage can arrive first). */
  tenant_id: string | null;
  plan_id: string | null;
  total_budget: number;
  currency: string | null;
  status: string | null;
  cancel_at_period_end: boolean;
  policy: BudgetPolicy;
  /** The subscription version applied last; 0 before any. */
  version: number;
  period_start: string | null;
  period_end: string | null;
  /** The period's spend, exact decimal minor units (a sum of rated amounts may pass 2^53). */
  spend: string;
  /** Threshold labels crossed this period, in the order they were crossed; never removed in a period. */
  crossed: string[];
  /**
   * The highest invoice threshold (progressive billing) the period's spend has passed; null for none
   * (and absent on projections stored before). Raising it publishes `usage.threshold_reached`.
   */
  invoice_threshold?: number | null;
  /** When the newest usage counted in the period was counted. */
  usage_at: string | null;
  projected_spend: string | null;
  projected_exhaustion_at: string | null;
  last_paid_invoice_id: string | null;
  sequence: number;
  updated_at: string;
};

export type BudgetInput =
  | {
      kind: 'subscription';
      version: number;
      at: string;
      subscription: {
        tenant_id: string;
        plan_id: string;
        total_budget: number;
        currency: string;
        status: string;
        cancel_at_period_end: boolean;
        period_start: string;
        period_end: string;
        budget_policy?: BudgetPolicy;
      };
    }
  | {
      kind: 'usage';
      at: string;
      usage: {
        period_start: string;
        period_end: string;
        metric: string;
        price: Price;
        shard: number;
        quantity: string;
      };
    }
  | {
      kind: 'invoice_paid';
      at: string;
      invoice: { invoice_id: string; period_start: string | null; period_end: string | null };
    };

/** The forecast never extrapolates from less than an hour of a period (a first call is not a rate). */
export const MIN_FORECAST_ELAPSED_MS = 3_600_000;

export const ledgerId = (periodStart: string, metric: string, priceId: string): string =>
  `${periodStart}#${metric}#${priceId}`;

/** The ledgers applying `inputs` may touch: one per (period, metric, price) of its usage. */
export function ledgersNeeded(inputs: readonly BudgetInput[]): string[] {
  const ids = inputs.flatMap((input) =>
    input.kind === 'usage'
      ? [ledgerId(input.usage.period_start, input.usage.metric, input.usage.price.id)]
      : [],
  );
  return [...new Set(ids)];
}

export function emptyProjection(subscriptionId: string, now: string): BudgetProjection {
  return {
    subscription_id: subscriptionId,
    tenant_id: null,
    plan_id: null,
    total_budget: 0,
    currency: null,
    status: null,
    cancel_at_period_end: false,
    policy: DEFAULT_BUDGET_POLICY,
    version: 0,
    period_start: null,
    period_end: null,
    spend: '0',
    crossed: [],
    invoice_threshold: null,
    usage_at: null,
    projected_spend: null,
    projected_exhaustion_at: null,
    last_paid_invoice_id: null,
    sequence: 0,
    updated_at: now,
  };
}

/**
 * Applies a subscription's inputs, in order, to its projection and the ledgers they touch (read
 * before: every id `ledgersNeeded` names, absent when new). Returns the new projection and the
 * ledgers that changed, or undefined when nothing changed (every input a duplicate or stale):
 * - a subscription event applies only over an older version; it moves the period forward (never
 *   back), and at the same start corrects the period's end (a re-anchor);
 * - a usage total applies only if larger than the shard's held one and not of a period the
 *   projection has left (late usage is billed on its invoice, and counts against no budget);
 *   usage of a newer period moves the projection there first;
 * - an invoice paid applies once, and moves the period forward to the one it names.
 * A new period starts with no spend and no threshold crossed.
 */
export function applyBudgetInputs(
  current: BudgetProjection,
  ledgers: ReadonlyMap<string, SpendLedger>,
  inputs: readonly BudgetInput[],
  now: string,
): { projection: BudgetProjection; ledgers: SpendLedger[] } | undefined {
  let state = { ...current, crossed: [...current.crossed] };
  const held = new Map(ledgers);
  const changed = new Map<string, SpendLedger>();
  let applied = false;
  for (const input of inputs) {
    const next = applyOne(state, held, changed, input);
    if (next) {
      state = next;
      applied = true;
    }
  }
  if (!applied) return undefined;
  state = withForecastAndThresholds(state);
  return {
    projection: { ...state, sequence: current.sequence + 1, updated_at: now },
    ledgers: [...changed.values()],
  };
}

function applyOne(
  state: BudgetProjection,
  held: Map<string, SpendLedger>,
  changed: Map<string, SpendLedger>,
  input: BudgetInput,
): BudgetProjection | undefined {
  switch (input.kind) {
    case 'subscription': {
      if (input.version <= state.version) return undefined;
      const s = input.subscription;
      const moved = movedTo(state, s.period_start, s.period_end) ?? state;
      return {
        ...moved,
        tenant_id: s.tenant_id,
        plan_id: s.plan_id,
        total_budget: s.total_budget,
        currency: s.currency,
        status: s.status,
        cancel_at_period_end: s.cancel_at_period_end,
        policy: s.budget_policy ?? DEFAULT_BUDGET_POLICY,
        version: input.version,
        period_end: moved.period_start === s.period_start ? s.period_end : moved.period_end,
      };
    }
    case 'invoice_paid': {
      const i = input.invoice;
      if (state.last_paid_invoice_id === i.invoice_id) return undefined;
      // An invoice naming a period the projection has left is a late or re-delivered payment.
      if (i.period_start !== null && state.period_start !== null && i.period_start < state.period_start)
        return undefined;
      const moved =
        i.period_start !== null && i.period_end !== null
          ? movedTo(state, i.period_start, i.period_end)
          : undefined;
      return { ...(moved ?? state), last_paid_invoice_id: i.invoice_id };
    }
    case 'usage': {
      const u = input.usage;
      if (state.period_start !== null && u.period_start < state.period_start) return undefined;
      const id = ledgerId(u.period_start, u.metric, u.price.id);
      const ledger = held.get(id) ?? {
        period_start: u.period_start,
        period_end: u.period_end,
        metric: u.metric,
        price: u.price,
        shards: {},
        rated: 0,
      };
      const before = ledger.shards[String(u.shard)];
      if (before !== undefined && compareQuantities(u.quantity, before) <= 0) return undefined;
      const shards = { ...ledger.shards, [String(u.shard)]: u.quantity };
      const rated = rateUsage(ledger.price, sumQuantities(Object.values(shards)));
      const next: SpendLedger = { ...ledger, shards, rated };
      held.set(id, next);
      changed.set(id, next);
      const moved = movedTo(state, u.period_start, u.period_end) ?? state;
      const spend = BigInt(moved.spend) - BigInt(ledger.rated) + BigInt(rated);
      const usageAt = moved.usage_at !== null && moved.usage_at > input.at ? moved.usage_at : input.at;
      return { ...moved, spend: spend.toString(), usage_at: usageAt };
    }
  }
}

/** The projection moved to a later period, with nothing spent or crossed yet; undefined if not later. */
function movedTo(
  state: BudgetProjection,
  periodStart: string,
  periodEnd: string,
): BudgetProjection | undefined {
  if (state.period_start !== null && state.period_start >= periodStart) return undefined;
  return {
    ...state,
    period_start: periodStart,
    period_end: periodEnd,
    spend: '0',
    crossed: [],
    invoice_threshold: null,
    usage_at: null,
  };
}

function withForecastAndThresholds(state: BudgetProjection): BudgetProjection {
  const spend = BigInt(state.spend);
  const projection = forecast(
    spend,
    state.total_budget,
    state.period_start,
    state.period_end,
    state.usage_at,
  );
  const crossed = [...state.crossed];
  for (const threshold of state.policy.thresholds) {
    const label = thresholdLabel(threshold);
    const value = threshold.of === 'forecast' ? (projection.projected ?? spend) : spend;
    if (!crossed.includes(label) && thresholdReached(threshold, value, state.total_budget))
      crossed.push(label);
  }
  // The highest invoice threshold passed, never lowered in a period (usage only grows; a policy
  // change does not take back a threshold already announced).
  const passed = invoiceThresholdsOf(state.policy).filter((amount) => BigInt(amount) <= spend);
  const invoiceThreshold = Math.max(state.invoice_threshold ?? 0, ...passed);
  return {
    ...state,
    crossed,
    invoice_threshold: invoiceThreshold > 0 ? invoiceThreshold : null,
    projected_spend: projection.projected?.toString() ?? null,
    projected_exhaustion_at: projection.exhaustion,
  };
}

/**
 * The burn-rate estimator (docs/smart-gateway.md "Forecast"): spend so far at the period's average
 * rate so far. elapsed = (time of the newest usage − period start), at least an hour and at most the
 * period; projected = spend × period length ÷ elapsed (rounded half up); the budget runs out at
 * period start + budget × elapsed ÷ spend (rounded up to the millisecond) if that is within the
 * period, else never (null). Already reached: the time of the usage that found it reached. No usage
 * yet: projected is the spend, and no exhaustion.
 */
export function forecast(
  spend: bigint,
  totalBudget: number,
  periodStart: string | null,
  periodEnd: string | null,
  usageAt: string | null,
): { projected: bigint | null; exhaustion: string | null } {
  if (periodStart === null || periodEnd === null) return { projected: null, exhaustion: null };
  if (usageAt === null || spend === 0n) return { projected: spend, exhaustion: null };
  const start = Date.parse(periodStart);
  const length = BigInt(Math.max(1, Date.parse(periodEnd) - start));
  const sinceStart = BigInt(Date.parse(usageAt) - start);
  const floor = BigInt(MIN_FORECAST_ELAPSED_MS) < length ? BigInt(MIN_FORECAST_ELAPSED_MS) : length;
  const elapsed = sinceStart < floor ? floor : sinceStart > length ? length : sinceStart;
  const projected = BigInt(roundHalfUp(spend * length, elapsed));
  const budget = BigInt(totalBudget);
  if (spend >= budget) return { projected, exhaustion: usageAt };
  const after = (budget * elapsed + spend - 1n) / spend;
  const at = BigInt(start) + after;
  return {
    projected,
    exhaustion: at <= BigInt(Date.parse(periodEnd)) ? new Date(Number(at)).toISOString() : null,
  };
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const asSafeNumber = (value: bigint): number => Number(value > MAX_SAFE ? MAX_SAFE : value);

/**
 * The gateway's row for a projection, or undefined while the subscription itself has not been seen
 * (there is no budget to enforce yet). Amounts past 2^53 − 1 minor units show as 2^53 − 1: over any
 * budget either way.
 */
export function budgetRowOf(projection: BudgetProjection): BudgetRow | undefined {
  const p = projection;
  if (p.version === 0 || p.tenant_id === null || p.plan_id === null || p.period_start === null)
    return undefined;
  const spend = BigInt(p.spend);
  const left = BigInt(p.total_budget) - spend;
  return {
    tenant_id: p.tenant_id,
    subscription_id: p.subscription_id,
    plan_id: p.plan_id,
    total_budget: p.total_budget,
    currency: p.currency ?? '',
    current_spend: asSafeNumber(spend),
    remaining: left > 0n ? asSafeNumber(left) : 0,
    enforcement: p.policy.enforcement,
    period_start: p.period_start,
    period_end: p.period_end ?? p.period_start,
    status: p.status ?? 'active',
    cancel_at_period_end: p.cancel_at_period_end,
    version: p.version,
    sequence: p.sequence,
    highest_threshold_crossed: highestCrossed(p),
    projected_spend_at_period_end:
      p.projected_spend === null ? null : asSafeNumber(BigInt(p.projected_spend)),
    projected_exhaustion_at: p.projected_exhaustion_at,
    last_paid_invoice_id: p.last_paid_invoice_id,
    updated_at: p.updated_at,
  };
}

/**
 * Of the thresholds crossed this period, the spend threshold standing for the largest amount: what
 * has been spent matters more than a projection. Only when no spend threshold is crossed, the
 * highest forecast one.
 */
function highestCrossed(p: BudgetProjection): string | null {
  let best: { label: string; rank: [number, bigint] } | undefined;
  for (const threshold of p.policy.thresholds) {
    const label = thresholdLabel(threshold);
    if (!p.crossed.includes(label)) continue;
    const rank: [number, bigint] = [
      threshold.of === 'forecast' ? 0 : 1,
      thresholdHundredths(threshold, p.total_budget),
    ];
    if (!best || rank[0] > best.rank[0] || (rank[0] === best.rank[0] && rank[1] > best.rank[1]))
      best = { label, rank };
  }
  return best?.label ?? p.crossed.at(-1) ?? null;
}
