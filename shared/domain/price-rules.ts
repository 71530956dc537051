import type { Price, PriceModel, PriceTier } from './catalog.ts';
import { DomainError } from './errors.ts';
import { CURRENCY_EXPONENTS } from './money.ts';

/**
 * What a well-formed price is (SPEC §4), beyond the field types the request schema checks:
 * the currencies a plan may be sold in, how a metric and a sub-cent amount are written, the tier
 * ladder's shape, the full stored Price built from a request, and the one transition a price has
 * (archive). Pure values only; the zod schemas in shared/schemas/catalog.ts call into this file.
 */

/** ISO 4217 codes a plan may be priced in: exactly those whose minor unit money.ts knows. */
export const CATALOG_CURRENCIES: readonly string[] = Object.keys(CURRENCY_EXPONENTS);

export const isCatalogCurrency = (code: string): boolean => CATALOG_CURRENCIES.includes(code);

/** A usage metric name as the SmartGateway reports it, e.g. `attestations` or `llm.tokens_in`. */
export const METRIC_PATTERN = /^[a-z][a-z0-9_.-]{0,63}$/;

/**
 * A unit price in minor units, possibly finer than one (Stripe's `unit_amount_decimal`): "0.04"
 * is four hundredths of a cent. Always a string, so no float ever holds it; 12+12 digits keep it
 * within what shared/domain/money.ts parses exactly.
 */
export const UNIT_AMOUNT_DECIMAL_PATTERN = /^\d{1,12}(\.\d{1,12})?$/;

export const MAX_TIERS = 20;

/** Models that rate a usage metric; `flat` is a recurring fee per period and has none. */
export const USAGE_MODELS = ['per_unit', 'package', 'tiered_graduated', 'tiered_volume'] as const;

export const isUsageModel = (model: PriceModel): boolean =>
  (USAGE_MODELS as readonly string[]).includes(model);

/** A problem with one tier, addressed by its index in the list and the offending field. */
export type TierIssue = { index: number; field: 'up_to'; message: string };

/**
 * The tier ladder rule: `up_to` strictly increases, and exactly the last tier is unbounded
 * (`up_to: null`). Each violation is reported on the tier that breaks it.
 */
export function tierIssues(tiers: readonly Pick<PriceTier, 'up_to'>[]): TierIssue[] {
  const issues: TierIssue[] = [];
  const last = tiers.length - 1;
  let previousBound: number | undefined;
  tiers.forEach((tier, index) => {
    if (index === last) {
      if (tier.up_to !== null)
        issues.push({ index, field: 'up_to', message: 'the last tier must be unbounded: send up_to null' });
    } else if (tier.up_to === null) {
      issues.push({
        index,
        field: 'up_to',
        message: 'only the last tier may be unbounded (null); give this tier an upper bound',
      });
    }
    if (tier.up_to !== null && previousBound !== undefined && tier.up_to <= previousBound) {
      issues.push({
        index,
        field: 'up_to',
        message: `must be greater than the previous tier's up_to (${previousBound})`,
      });
    }
    if (tier.up_to !== null) previousBound = tier.up_to;
  });
  return issues;
}

type PriceInputBase = { plan_id: string; nickname?: string | undefined };

/** A validated create-price request (the output of the request schema). */
export type NewPriceInput =
  | {
      model: 'one_time';
      product_id: string;
      currency: string;
      unit_amount: number;
      nickname?: string | undefined;
    }
  | PlanPriceInput;

type PlanPriceInput = PriceInputBase &
  (
    | { model: 'flat'; unit_amount: number }
    | { model: 'per_unit'; metric: string; unit_amount_decimal: string }
    | { model: 'package'; metric: string; unit_amount_decimal: string; package_size: number }
    | {
        model: 'tiered_graduated' | 'tiered_volume';
        metric: string;
        tiers: readonly {
          up_to: number | null;
          unit_amount_decimal: string;
          flat_amount?: number | undefined;
        }[];
      }
  );

/** The stored price: every field of Price present, those its model does not use null. */
export function newPrice(input: NewPriceInput, currency: string, id: string, now: Date): Price {
  const at = now.toISOString();
  const base = {
    id,
    plan_id: input.model === 'one_time' ? null : input.plan_id,
    product_id: input.model === 'one_time' ? input.product_id : null,
    currency,
    model: input.model,
    metric: null,
    unit_amount: null,
    unit_amount_decimal: null,
    package_size: null,
    tiers: null,
    nickname: input.nickname ?? null,
    active: true,
    created_at: at,
    updated_at: at,
    version: 1,
  } satisfies Price;
  switch (input.model) {
    case 'flat':
    case 'one_time':
      return { ...base, unit_amount: input.unit_amount };
    case 'per_unit':
      return { ...base, metric: input.metric, unit_amount_decimal: input.unit_amount_decimal };
    case 'package':
      return {
        ...base,
        metric: input.metric,
        unit_amount_decimal: input.unit_amount_decimal,
        package_size: input.package_size,
      };
    case 'tiered_graduated':
    case 'tiered_volume':
      return {
        ...base,
        metric: input.metric,
        tiers: input.tiers.map((tier) => ({
          up_to: tier.up_to,
          unit_amount_decimal: tier.unit_amount_decimal,
          flat_amount: tier.flat_amount ?? 0,
        })),
      };
  }
}

/** Prices are immutable; the one change they allow is active → archived, bumping the version. */
export function archivedPrice(price: Price, now: Date): Price {
  if (!price.active) {
    throw new DomainError(
      'invalid-state-transition',
      `Price ${price.id} is already archived; create a new price instead`,
    );
  }
  return { ...price, active: false, updated_at: now.toISOString(), version: price.version + 1 };
}
