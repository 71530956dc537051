import { z } from 'zod';
import { MAX_ONE_TIME_UNIT_AMOUNT } from '../domain/one-time.ts';
import {
  CATALOG_CURRENCIES,
  isCatalogCurrency,
  MAX_TIERS,
  METRIC_PATTERN,
  tierIssues,
  UNIT_AMOUNT_DECIMAL_PATTERN,
} from '../domain/price-rules.ts';
import { MAX_ITEM_FEE } from '../domain/subscription-items.ts';
import { BudgetPolicyRequestSchema, BudgetPolicySchema } from './budget.ts';
import { IdPathSchema, ListQuerySchema, MetadataSchema, pageOf } from './common.ts';
import { createContract, defineContract, getContract, listContract } from './contract.ts';

// ---- building blocks ------------------------------------------------------------------------

/** Integer minor units; a float such as 10.5 is refused rather than rounded. */
const minorUnits = () =>
  z
    .int({
      error: (issue) =>
        issue.code === 'invalid_type' && typeof issue.input === 'number'
          ? 'must be a whole number of minor units (e.g. 1050 for 10.50), not a fraction'
          : undefined,
    })
    .min(0, 'must not be negative');

const unitAmountDecimal = () =>
  z
    .string({
      error: (issue) =>
        issue.code === 'invalid_type' && typeof issue.input === 'number'
          ? 'must be sent as a string such as "0.04", not a JSON number: a number cannot carry a price exactly'
          : undefined,
    })
    .regex(
      UNIT_AMOUNT_DECIMAL_PATTERN,
      'must be a decimal string of minor units such as "12" or "0.0004" (up to 12 digits each side of the point)',
    )
    .meta({
      description: 'Decimal string in minor units; may be finer than one ("0.04" = 0.04 cents in USD)',
      example: '0.04',
    });

const metric = () =>
  z
    .string()
    .regex(METRIC_PATTERN, 'must start with a-z and use a-z 0-9 _ . - (at most 64 characters)')
    .meta({ description: 'The usage metric this price rates', example: 'attestations' });

const nickname = () => z.string().trim().min(1).max(256).optional();

const entityId = () => z.string().min(1).max(64);

const timestamps = {
  created_at: z.string().meta({ format: 'date-time' }),
  updated_at: z.string().meta({ format: 'date-time' }),
  version: z.number().int().meta({ description: 'Incremented on every change' }),
};

// ---- products -------------------------------------------------------------------------------

export const CreateProductRequestSchema = z
  .strictObject({
    name: z.string().trim().min(1).max(256).meta({ example: 'Attestation API' }),
    description: z.string().trim().max(1024).optional(),
    metadata: MetadataSchema.optional(),
  })
  .meta({ id: 'CreateProductRequest' });

export const ProductSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    description: z.string().nullable(),
    metadata: z.record(z.string(), z.string()),
    active: z.boolean(),
    ...timestamps,
  })
  .meta({ id: 'Product' });

export type CreateProductRequest = z.infer<typeof CreateProductRequestSchema>;

// ---- plans ----------------------------------------------------------------------------------

export const RoutingPolicySchema = z
  .strictObject({
    priority: z.int().min(0).max(1000),
    match_expression: z.string().min(1).max(1024).meta({ example: 'tenant.tier == "gold"' }),
    strategy: z.enum(['weighted', 'failover', 'round_robin', 'least_latency']),
    targets: z
      .array(z.string().min(1).max(256))
      .min(1)
      .max(50)
      .meta({ example: ['eu-west-1-primary'] }),
  })
  .meta({ id: 'RoutingPolicy', description: 'Synced to the SmartGateway routing_policies table' });

const currency = () =>
  z
    .string()
    .regex(/^[A-Za-z]{3}$/, { message: 'must be a three-letter ISO 4217 code such as USD', abort: true })
    .toUpperCase()
    .refine(isCatalogCurrency, `must be one of ${CATALOG_CURRENCIES.join(', ')}`)
    .meta({
      description: `ISO 4217 code, one of ${CATALOG_CURRENCIES.join(', ')} (lower case is accepted)`,
      example: 'USD',
    });

/** The catalog's currency field (validated, upper-cased), for schemas outside the catalog. */
export const catalogCurrency = currency;

const FeeTimingSchema = z.enum(['in_advance', 'in_arrears']).meta({ id: 'FeeTiming' });

export const CreatePlanRequestSchema = z
  .strictObject({
    product_id: entityId(),
    name: z.string().trim().min(1).max(256).meta({ example: 'Gold monthly' }),
    currency: currency(),
    interval: z.enum(['month', 'year']),
    fee_timing: FeeTimingSchema.optional().meta({
      description:
        'When the fee (the sum of its flat prices) is billed: in_advance (default) at the start of each period, in_arrears at its end with its usage',
    }),
    total_budget: minorUnits().meta({
      description: 'SmartGateway budget per period, integer minor units of currency',
      example: 500000,
    }),
    routing_policy: RoutingPolicySchema.optional(),
    budget_policy: BudgetPolicyRequestSchema.optional().meta({
      description: 'How the SmartGateway enforces the budget and when it alerts; default hard, no thresholds',
    }),
  })
  .meta({ id: 'CreatePlanRequest' });

export const PlanSchema = z
  .object({
    id: z.string(),
    product_id: z.string(),
    name: z.string(),
    currency: z.string(),
    interval: z.enum(['month', 'year']),
    fee_timing: FeeTimingSchema,
    total_budget: z.int().meta({ description: 'Integer minor units of currency' }),
    routing_policy: z.union([RoutingPolicySchema, z.null()]),
    budget_policy: BudgetPolicySchema,
    active: z.boolean(),
    ...timestamps,
  })
  .meta({ id: 'Plan' });

export type CreatePlanRequest = z.infer<typeof CreatePlanRequestSchema>;

export const ListPlansQuerySchema = ListQuerySchema.extend({
  product_id: entityId().optional().meta({ description: 'Only the plans of this product' }),
});

// ---- prices ---------------------------------------------------------------------------------

const TierRequestSchema = z.strictObject({
  up_to: z
    .int()
    .positive()
    .nullable()
    .meta({ description: 'Inclusive upper bound in units; null on the last tier only' }),
  unit_amount_decimal: unitAmountDecimal(),
  flat_amount: minorUnits().default(0).meta({ description: 'Fixed fee for reaching this tier, minor units' }),
});

const tiers = () =>
  z
    .array(TierRequestSchema)
    .min(1)
    .max(MAX_TIERS)
    .superRefine((list, context) => {
      for (const issue of tierIssues(list)) {
        context.addIssue({ code: 'custom', path: [issue.index, issue.field], message: issue.message });
      }
    })
    .meta({ description: `1-${MAX_TIERS} tiers, up_to strictly increasing, the last with up_to null` });

const priceBase = { plan_id: entityId(), nickname: nickname() };

/** One strict object per model, so a field of another model is refused as unknown. */
export const CreatePriceRequestSchema = z
  .discriminatedUnion(
    'model',
    [
      z
        .strictObject({
          ...priceBase,
          model: z.literal('flat'),
          // A period's fee is one invoice line: bounded like every line (docs/billing-rules.md, "Limits").
          unit_amount: minorUnits().max(MAX_ITEM_FEE, `must be at most ${MAX_ITEM_FEE} minor units`),
        })
        .meta({ description: 'A recurring fee per billing period' }),
      z.strictObject({
        ...priceBase,
        model: z.literal('per_unit'),
        metric: metric(),
        unit_amount_decimal: unitAmountDecimal(),
      }),
      z.strictObject({
        ...priceBase,
        model: z.literal('package'),
        metric: metric(),
        unit_amount_decimal: unitAmountDecimal().meta({ description: 'Price per package, minor units' }),
        package_size: z.int().min(1).meta({ description: 'Units per package; partial packages round up' }),
      }),
      z.strictObject({
        ...priceBase,
        model: z.literal('tiered_graduated'),
        metric: metric(),
        tiers: tiers(),
      }),
      z.strictObject({ ...priceBase, model: z.literal('tiered_volume'), metric: metric(), tiers: tiers() }),
      z
        .strictObject({
          product_id: entityId(),
          nickname: nickname(),
          model: z.literal('one_time'),
          currency: currency(),
          unit_amount: minorUnits()
            .max(MAX_ONE_TIME_UNIT_AMOUNT, 'must be at most 10^12 minor units')
            .meta({ description: 'The price of one unit, integer minor units of currency', example: 4900 }),
        })
        .meta({
          description:
            "A product's price sold once (an invoice item or a one-off invoice), never per period: no plan_id",
        }),
    ],
    { error: 'must be one of flat, per_unit, package, tiered_graduated, tiered_volume, one_time' },
  )
  .meta({ id: 'CreatePriceRequest' });

export const PriceTierSchema = z
  .object({
    up_to: z.int().nullable(),
    unit_amount_decimal: z.string(),
    flat_amount: z.int(),
  })
  .meta({ id: 'PriceTier' });

export const PriceSchema = z
  .object({
    id: z.string(),
    plan_id: z.string().nullable().meta({ description: 'Null for a one_time price' }),
    product_id: z
      .string()
      .nullable()
      .optional()
      .meta({ description: 'one_time: the product it sells; null (or absent) for a plan price' }),
    currency: z.string().meta({ description: "Copied from the plan; a one_time price's own" }),
    model: z.enum(['flat', 'per_unit', 'package', 'tiered_graduated', 'tiered_volume', 'one_time']),
    metric: z.string().nullable().meta({ description: 'Null for a flat fee' }),
    unit_amount: z
      .int()
      .nullable()
      .meta({ description: 'flat: the fee per period; one_time: the price of one unit; minor units' }),
    unit_amount_decimal: z.string().nullable().meta({ description: 'per_unit / package: decimal string' }),
    package_size: z.int().nullable(),
    tiers: z.array(PriceTierSchema).nullable(),
    nickname: z.string().nullable(),
    active: z.boolean().meta({ description: 'False once archived; archived prices are kept for invoices' }),
    ...timestamps,
  })
  .meta({ id: 'Price' });

export type CreatePriceRequest = z.infer<typeof CreatePriceRequestSchema>;

export const ListPricesQuerySchema = ListQuerySchema.extend({
  plan_id: entityId().optional().meta({ description: 'Only the prices of this plan (archived included)' }),
  product_id: entityId()
    .optional()
    .meta({ description: 'Only the one-time prices of this product (archived included)' }),
});

// ---- contracts ------------------------------------------------------------------------------

export const catalogContracts = {
  'products-create': createContract(CreateProductRequestSchema, ProductSchema, 'product'),
  'products-get': getContract(ProductSchema, 'The product'),
  'products-list': listContract(
    pageOf(ProductSchema, 'ProductList'),
    ListQuerySchema,
    'A page of products, oldest first',
  ),
  'plans-create': createContract(CreatePlanRequestSchema, PlanSchema, 'plan'),
  'plans-get': getContract(PlanSchema, 'The plan'),
  'plans-list': listContract(
    pageOf(PlanSchema, 'PlanList'),
    ListPlansQuerySchema,
    'A page of plans, oldest first: all of them, or those of product_id',
  ),
  'prices-create': createContract(CreatePriceRequestSchema, PriceSchema, 'price'),
  'prices-get': getContract(PriceSchema, 'The price'),
  'prices-list': listContract(
    pageOf(PriceSchema, 'PriceList'),
    ListPricesQuerySchema,
    'A page of prices, oldest first: all of them, or those of plan_id (archived included)',
  ),
  'prices-archive': defineContract({
    params: IdPathSchema,
    idempotent: true,
    success: {
      status: 200,
      description: 'The archived price (active false). Its metric is free for a new price.',
      schema: PriceSchema,
    },
    problems: [400, 401, 403, 404, 409],
  }),
};
