import type { Enforcement } from '../smart-gateway/budget-row.ts';

/**
 * What a budget tells the SmartGateway to do (docs/smart-gateway.md): how to enforce it, and the
 * spend thresholds that raise `budget.threshold_crossed`. Set on a plan; a subscription takes its
 * base plan's unless it sets its own.
 */
export type BudgetThreshold = {
  /** Exactly one of percent (of total_budget) and amount (minor units). */
  percent?: number;
  amount?: number;
  /** `spend` (default): the period's spend so far; `forecast`: the spend projected at the period's end. */
  of?: 'spend' | 'forecast';
};

export type BudgetPolicy = {
  enforcement: Enforcement;
  thresholds: BudgetThreshold[];
  /**
   * Progressive billing (shared/domain/progressive-billing.ts): amounts of the period's rated usage,
   * minor units, ascending, at which the usage so far is invoiced mid-period. Absent on policies stored
   * before it existed: none.
   */
  invoice_thresholds?: number[];
};

/** A plan that says nothing: the gateway refuses spend the budget does not cover, and no alerts. */
export const DEFAULT_BUDGET_POLICY: BudgetPolicy = { enforcement: 'hard', thresholds: [] };

export const MAX_THRESHOLDS = 10;
/** At most this many invoice thresholds per policy (each may bill once a period). */
export const MAX_INVOICE_THRESHOLDS = 10;

/** The policy's progressive-billing thresholds, none on a policy stored before they existed. */
export const invoiceThresholdsOf = (policy: BudgetPolicy | undefined): readonly number[] =>
  policy?.invoice_thresholds ?? [];
export const MAX_THRESHOLD_PERCENT = 1000;

/** The threshold's name on the row and in its events: `80%`, `5000`, `forecast 100%`. */
export function thresholdLabel(threshold: BudgetThreshold): string {
  const value = threshold.percent !== undefined ? `${threshold.percent}%` : String(threshold.amount);
  return threshold.of === 'forecast' ? `forecast ${value}` : value;
}

/**
 * The threshold as an amount of minor units, exactly: percent × budget / 100 need not be whole, so
 * it is compared as `value × 100 ≥ budget × percent` (bigint) rather than rounded.
 */
export function thresholdReached(threshold: BudgetThreshold, value: bigint, totalBudget: number): boolean {
  if (value <= 0n) return false;
  return value * 100n >= thresholdHundredths(threshold, totalBudget);
}

/** A hundred times the amount the threshold stands for (exact: percent × budget needs no division). */
export function thresholdHundredths(threshold: BudgetThreshold, totalBudget: number): bigint {
  return threshold.amount !== undefined
    ? BigInt(threshold.amount) * 100n
    : BigInt(totalBudget) * BigInt(threshold.percent ?? 0);
}
