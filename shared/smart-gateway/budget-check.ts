/**
 * The gateway's budget check: may a paid API request of `cost` minor units go through, given the
 * subscription's `budgets` row? This file imports only the row's type, so the gateway side can copy
 * or import it as it is (docs/smart-gateway.md "The budget check").
 *
 * `checkSpend` is the pure rule for one request. `BudgetGuard` (one per gateway process) holds the
 * newest row per subscription and the spend this process allowed that the row does not show yet
 * (the reservation), and checks every request against both.
 *
 * Guarantee. With a hard cap, spend of a period never exceeds its total_budget, whatever the age of
 * the rows the guard holds, as long as:
 * - all spend of the subscription passes through this one instance (one BudgetGuard);
 * - a row's current_spend counts only usage this instance allowed, at the cost it checked, in
 *   the period of the request's time (usage is reflected in rows in the order it was allowed; the
 *   argument below needs only that each increase of current_spend is usage this instance allowed).
 * Why: the guard keeps `reserved ≥ true spend − row.current_spend` (allowing adds the cost; a newer
 * row of the period takes off what its spend rose by, which is allowed usage now reflected), and it
 * allows only `cost ≤ remaining − reserved`, so true spend + cost ≤ total_budget. A request whose
 * time is outside the held row's period is refused under a hard cap: that row says nothing about
 * the budget of the period the request counts in. On a row of a newer period the reservation
 * starts again from what this guard allowed after the held period ended (only under a soft cap or
 * none, as a hard one refused it), less what the new row shows: what was reserved for the ended
 * period counts in that period, never in the new one.
 *
 * Otherwise (the bounds, worked through in docs/smart-gateway.md "How far spend can overshoot a cap"):
 * - N instances, each with its own guard: an instance never lets through more, from the moment it
 *   holds a row of the period, than that row's remaining (unless a newer row raises the budget or
 *   lowers the spend). So from a row all instances hold, spend
 *   can exceed the budget by up to (N−1) × that row's remaining, plus whatever was allowed but not
 *   yet in that row (nothing, if the row was computed when nothing was in flight). At worst, from
 *   the period's first row: (N−1) × total_budget. A restart (which loses the reservation) and a
 *   rolling deploy are this case.
 * - A soft cap refuses nothing; its `over_budget` flag is exact for one instance, and with several
 *   it can come late by what is in flight between two row updates: the request rate × the
 *   usage→row latency.
 *
 * Fail closed: a hard cap refuses on no row, a row older than maxRowAgeMs (the guarantee needs no
 * age limit; it is for what a row brings besides spend: a cancellation, a lower budget, a hard cap),
 * a request outside the row's period, or a time that does not parse. A row's age is from the later of
 * when billing computed it and when the gateway last read it as the newest (`confirmedAt`): a quiet
 * row does not change, so the gateway re-reads it (its budgets table, or GET …/budget) well within
 * maxRowAgeMs and hands it to acceptRow again, which confirms it.
 *
 * current_spend can also drop within a period (a volume-tiered price rates all units lower once a
 * tier is reached). A row whose spend did not rise leaves the reservation as it is: how much of it
 * the row now reflects is unknown, and keeping it can only refuse too early, never let too much by.
 */
import type { BudgetRow } from './budget-row.ts';

export type SpendReason =
  /** No row for the subscription: an unknown tenant (or one whose row has not arrived). Refused. */
  | 'no_budget_row'
  /** The subscription is canceled. Refused. */
  | 'canceled'
  /** enforcement `none`. Allowed. */
  | 'not_enforced'
  /** enforcement `soft`. Allowed; `over_budget` says whether it takes spend past the budget. */
  | 'soft_cap'
  /** enforcement `hard`, and the cost fits in `available`. Allowed. */
  | 'within_hard_cap'
  /** enforcement `hard`, and the row is older than `maxRowAgeMs` (or its time unreadable). Refused. */
  | 'row_too_old'
  /** enforcement `hard`, and the request's time is not in the row's period. Refused. */
  | 'outside_period'
  /** enforcement `hard`, and the cost is more than `available`. Refused. */
  | 'hard_cap';

export type SpendDecision = {
  allow: boolean;
  /** current_spend + reserved + cost > total_budget (false when there is no row). */
  over_budget: boolean;
  reason: SpendReason;
  /** What a hard cap still lets through: max(0, remaining − reserved); null when the cap is not hard. */
  available: number | null;
};

export type SpendCheckOptions = {
  /** The request's time: the time its usage is stamped with, so the period it counts in. */
  now: Date;
  /** A hard cap refuses on a row older than this (fail closed). */
  maxRowAgeMs: number;
  /**
   * When the gateway last read this row as the newest there is (a re-read of the same sequence):
   * the row's age counts from the later of this and `updated_at`.
   */
  confirmedAt?: Date;
  /** Spend already allowed that the row does not show yet (minor units); 0 if omitted. */
  reserved?: number;
};

/** May a request of `cost` minor units go through? Pure: the same inputs give the same decision. */
export function checkSpend(
  row: BudgetRow | undefined,
  cost: number,
  options: SpendCheckOptions,
): SpendDecision {
  requireMinorUnits('cost', cost);
  const reserved = options.reserved ?? 0;
  requireMinorUnits('reserved', reserved);
  if (!row) return { allow: false, over_budget: false, reason: 'no_budget_row', available: null };

  const overBudget = row.current_spend + reserved + cost > row.total_budget;
  const available = row.enforcement === 'hard' ? Math.max(0, row.remaining - reserved) : null;
  const decide = (allow: boolean, reason: SpendReason): SpendDecision => ({
    allow,
    over_budget: overBudget,
    reason,
    available,
  });

  if (row.status === 'canceled') return decide(false, 'canceled');
  if (row.enforcement === 'none') return decide(true, 'not_enforced');
  if (row.enforcement === 'soft') return decide(true, 'soft_cap');
  if (!isFresh(row, options.now, options.maxRowAgeMs, options.confirmedAt))
    return decide(false, 'row_too_old');
  if (!isInPeriod(row, options.now)) return decide(false, 'outside_period');
  if (available === null || cost > available) return decide(false, 'hard_cap');
  return decide(true, 'within_hard_cap');
}

/** What a guard holds for one subscription. */
export type HeldBudget = {
  readonly row: BudgetRow;
  /** Spend this guard allowed that the row does not show yet (minor units). */
  readonly reserved: number;
  /** The part of it allowed after the row's period ended, before a row of a newer period arrived. */
  readonly reservedAfterPeriod: number;
  /** When it last allowed a request (ms since the epoch; −Infinity before the first). */
  readonly lastAllowedAt: number;
};

type Held = {
  row: BudgetRow;
  reserved: number;
  reservedAfterPeriod: number;
  lastAllowedAt: number;
  /** When the held row was last read as the newest (ms since the epoch). */
  confirmedAt: number;
};

/**
 * One per gateway process: the newest row per subscription and the reservation, so that this
 * instance never lets spend pass a hard cap, even between two row updates (the file's header says
 * exactly when that holds, and how far several instances can overshoot).
 */
export class BudgetGuard {
  readonly #held = new Map<string, Held>();
  readonly #maxRowAgeMs: number;

  constructor(options: { maxRowAgeMs: number }) {
    this.#maxRowAgeMs = options.maxRowAgeMs;
  }

  /**
   * Takes a row from the sync or a re-read, at `readAt` (default now). Returns false for a row no
   * newer (by sequence) than the one held, or of an older period: duplicates and late deliveries are
   * expected. The held row read again (same sequence) confirms it is still the newest: its age
   * starts again from `readAt`.
   */
  acceptRow(row: BudgetRow, readAt: Date = new Date()): boolean {
    const held = this.#held.get(row.subscription_id);
    if (!held) {
      this.#held.set(row.subscription_id, {
        row,
        reserved: 0,
        reservedAfterPeriod: 0,
        lastAllowedAt: Number.NEGATIVE_INFINITY,
        confirmedAt: readAt.getTime(),
      });
      return true;
    }
    if (row.sequence === held.row.sequence) held.confirmedAt = Math.max(held.confirmedAt, readAt.getTime());
    if (row.sequence <= held.row.sequence) return false;
    const periodOrder = comparePeriods(row, held.row);
    if (periodOrder < 0) return false;
    if (periodOrder > 0) {
      // What was reserved for the held period counts in that period; only what was allowed after
      // it ended can count in the new one, and the new row shows part of it already. If some of it
      // came after the new period's end too (a whole period's rows missed), it is kept for the next.
      held.reserved = Math.max(0, held.reservedAfterPeriod - row.current_spend);
      if (!(held.lastAllowedAt >= Date.parse(row.period_end))) held.reservedAfterPeriod = 0;
    } else {
      held.reserved = reservationAfter(held, row);
    }
    held.row = row;
    held.confirmedAt = Math.max(held.confirmedAt, readAt.getTime());
    return true;
  }

  /** checkSpend with the held row and reservation; an allowed cost is reserved until a row shows it. */
  check(subscriptionId: string, cost: number, now: Date): SpendDecision {
    const held = this.#held.get(subscriptionId);
    const decision = checkSpend(held?.row, cost, {
      now,
      maxRowAgeMs: this.#maxRowAgeMs,
      reserved: held?.reserved ?? 0,
      ...(held ? { confirmedAt: new Date(held.confirmedAt) } : {}),
    });
    // Reserved under every enforcement, `none` included: the reservation must cover all unreflected
    // spend, or a row that turns the cap hard mid-period would meet spend it does not know of.
    if (held && decision.allow) reserve(held, cost, now);
    return decision;
  }

  /** The row and reservation held for a subscription (for metrics and tests). */
  held(subscriptionId: string): HeldBudget | undefined {
    const held = this.#held.get(subscriptionId);
    return held && { ...held };
  }
}

/**
 * A request after the held period's end (allowed under a soft cap or none) counts in a later
 * period, so it is also kept apart for the next period's row. Kept in both: the held period's
 * reservation may then be too large (it may never be reflected there), which only refuses early.
 */
function reserve(held: Held, cost: number, now: Date): void {
  held.reserved += cost;
  held.lastAllowedAt = Math.max(held.lastAllowedAt, now.getTime());
  if (now.getTime() >= Date.parse(held.row.period_end)) held.reservedAfterPeriod += cost;
}

/**
 * A newer row of the same period: what its spend rose by is usage this guard allowed and reported,
 * now in the row, so no longer reserved. A spend that did not rise (a volume tier repriced all
 * units lower) leaves the reservation as it is: conservative, see the file's header.
 */
function reservationAfter(held: HeldBudget, row: BudgetRow): number {
  const reflected = row.current_spend - held.row.current_spend;
  if (!(reflected > 0)) return held.reserved;
  return Math.max(0, held.reserved - reflected);
}

/** < 0 when `a`'s period starts before `b`'s, > 0 after, 0 for the same period (or unreadable). */
function comparePeriods(a: BudgetRow, b: BudgetRow): number {
  const order = Date.parse(a.period_start) - Date.parse(b.period_start);
  return Number.isNaN(order) ? 0 : Math.sign(order);
}

/** Written as "not older than" so an unreadable time (NaN) counts as too old: fail closed. */
function isFresh(row: BudgetRow, now: Date, maxRowAgeMs: number, confirmedAt?: Date): boolean {
  const seen = Math.max(Date.parse(row.updated_at), confirmedAt?.getTime() ?? Number.NEGATIVE_INFINITY);
  const age = now.getTime() - seen;
  return age <= maxRowAgeMs;
}

/** The period is [period_start, period_end); an unreadable bound is no period (fail closed). */
function isInPeriod(row: BudgetRow, now: Date): boolean {
  const time = now.getTime();
  return Date.parse(row.period_start) <= time && time < Date.parse(row.period_end);
}

function requireMinorUnits(name: string, value: number): void {
  if (Number.isSafeInteger(value) && value >= 0) return;
  throw new TypeError(`${name} must be a non-negative safe integer of minor units, got ${String(value)}`);
}
