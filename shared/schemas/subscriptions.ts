import { z } from 'zod';
import { MAX_ITEM_QUANTITY, MAX_ITEMS } from '../domain/subscription-items.ts';
import { BudgetPolicyRequestSchema, BudgetPolicySchema, BudgetRowSchema } from './budget.ts';
import { RoutingPolicySchema } from './catalog.ts';
import { IdPathSchema, ListQuerySchema, pageOf } from './common.ts';
import { defineContract } from './contract.ts';
import { InvoiceLineSchema, InvoiceSchema } from './invoices.ts';
import { taxRateIds } from './tax-rates.ts';

const MinorUnits = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

const ItemRequestSchema = z
  .strictObject({
    plan_id: z.string().min(1).max(64),
    quantity: z
      .number()
      .int()
      .min(1)
      .max(MAX_ITEM_QUANTITY)
      .optional()
      .meta({ description: "How many of the plan's flat fee (seats); default 1. Usage is not multiplied" }),
  })
  .meta({ id: 'SubscriptionItemRequest' });

const ItemsRequestSchema = z.array(ItemRequestSchema).min(1).max(MAX_ITEMS).meta({
  description:
    'The plans the subscription includes, base plan first, each of its own product; all in one currency and interval',
});

export const CreateSubscriptionRequestSchema = z
  .strictObject({
    customer_id: z.string().min(1).max(64),
    plan_id: z
      .string()
      .min(1)
      .max(64)
      .optional()
      .meta({ description: 'The one plan: shorthand for "items": [{"plan_id": …}]' }),
    items: ItemsRequestSchema.optional(),
    trial_days: z
      .number()
      .int()
      .min(0)
      .max(730)
      .optional()
      .meta({ description: 'Free trial length; 0 or absent for none' }),
    total_budget: MinorUnits.optional().meta({
      description: "Overrides the budget, else the sum of the items' plans' budgets (minor units)",
    }),
    budget_policy: BudgetPolicyRequestSchema.optional().meta({
      description: "Overrides the base plan's enforcement and thresholds (operators only)",
    }),
    default_tax_rate_ids: taxRateIds().nullable().optional().meta({
      description:
        "Its invoices' tax rates, in place of the customer's (operators only); null or absent: the customer's",
    }),
  })
  .refine((input) => (input.plan_id === undefined) !== (input.items === undefined), {
    message: 'send plan_id (one plan) or items (several), exactly one of them',
    path: ['items'],
  })
  .meta({ id: 'CreateSubscriptionRequest' });

export const UpdateSubscriptionRequestSchema = z
  .strictObject({
    plan_id: z.string().min(1).max(64).optional().meta({
      description:
        "Change the base plan (the first item's; its quantity and the other items stay): prorated mid-period; another interval ends the period now and bills it",
    }),
    items: ItemsRequestSchema.optional().meta({
      description:
        'The items the subscription holds from now on, in order: a plan not listed is removed, a new one added, a changed quantity re-quantified, each billed like a plan change',
    }),
    proration_behavior: z.enum(['create_prorations', 'always_invoice', 'none']).optional().meta({
      description:
        'With plan_id or items: create_prorations (default) puts the prorations on the next invoice, always_invoice drafts an invoice now, none keeps what was billed to the period end',
    }),
    total_budget: MinorUnits.optional().meta({ description: 'Set the SmartGateway budget (minor units)' }),
    budget_policy: BudgetPolicyRequestSchema.optional().meta({
      description: 'Set how the SmartGateway enforces the budget and when it alerts (operators only)',
    }),
    default_tax_rate_ids: taxRateIds().nullable().optional().meta({
      description:
        "Its invoices' tax rates from the next one finalized, in place of the customer's (operators only); null: the customer's again",
    }),
    cancel_at_period_end: z
      .boolean()
      .optional()
      .meta({ description: 'Cancel when the current period ends (false resumes)' }),
    cancel_now: z
      .literal(true)
      .optional()
      .meta({ description: 'Cancel immediately: a final invoice is drafted at once' }),
    prorate: z.boolean().optional().meta({
      description: 'With cancel_now: false gives no credit for the prepaid time not used (default true)',
    }),
    version: z
      .number()
      .int()
      .min(1)
      .optional()
      .meta({ description: 'Expected current version (or send If-Match); a mismatch answers 409' }),
  })
  .refine(
    (patch) =>
      patch.plan_id !== undefined ||
      patch.items !== undefined ||
      patch.total_budget !== undefined ||
      patch.budget_policy !== undefined ||
      patch.default_tax_rate_ids !== undefined ||
      patch.cancel_at_period_end !== undefined ||
      patch.cancel_now !== undefined,
    {
      message:
        'name at least one change: plan_id, items, total_budget, budget_policy, default_tax_rate_ids, cancel_at_period_end or cancel_now',
      path: [],
    },
  )
  .refine((patch) => patch.plan_id === undefined || patch.items === undefined, {
    message: 'send plan_id (the base plan) or items (every item), not both',
    path: ['items'],
  })
  .refine(
    (patch) =>
      patch.proration_behavior === undefined || patch.plan_id !== undefined || patch.items !== undefined,
    {
      message: 'only applies to a plan or item change: send it with plan_id or items',
      path: ['proration_behavior'],
    },
  )
  .refine((patch) => patch.prorate === undefined || patch.cancel_now === true, {
    message: 'only applies to cancel_now: send it with "cancel_now": true',
    path: ['prorate'],
  })
  .meta({ id: 'UpdateSubscriptionRequest' });

export const SubscriptionSchema = z
  .object({
    id: z.string(),
    customer_id: z.string(),
    plan_id: z.string().meta({ description: "The base plan: the first item's" }),
    items: z
      .array(
        z
          .object({
            plan_id: z.string(),
            quantity: z.number().int().meta({
              description:
                'Units of the plan fee billed; 0 only for an item removed with proration_behavior none, kept (billed as before) until the period ends',
            }),
            fee_segment_start: z
              .string()
              .meta({ description: 'When the billed fee of this item started in the current period' }),
            fee_prepaid: z.boolean().meta({
              description: "Whether this item's fee for the rest of the period is already invoiced",
            }),
          })
          .meta({ id: 'SubscriptionItem' }),
      )
      .meta({ description: 'The plans it includes, base plan first' }),
    status: z.enum(['trialing', 'active', 'past_due', 'canceled']),
    currency: z.string(),
    interval: z.enum(['month', 'year']),
    fee_timing: z.enum(['in_advance', 'in_arrears']).meta({ description: "The base plan's fee timing" }),
    total_budget: z.number().int(),
    total_budget_overridden: z.boolean(),
    budget_policy: BudgetPolicySchema,
    budget_policy_overridden: z.boolean(),
    default_tax_rate_ids: z
      .array(z.string())
      .nullable()
      .meta({ description: "Its invoices' tax rates; null: its customer's (tax_rate_ids)" }),
    routing_policy: z.union([RoutingPolicySchema, z.null()]),
    billing_cycle_anchor: z.string(),
    current_period_start: z.string(),
    current_period_end: z.string(),
    earlier_anchors: z
      .array(z.object({ anchor: z.string(), interval: z.enum(['month', 'year']), until: z.string() }))
      .meta({ description: 'Billing anchors before a change of interval re-anchored the subscription' }),
    trial_end: z.string().nullable(),
    cancel_at_period_end: z.boolean(),
    canceled_at: z.string().nullable(),
    created_at: z.string(),
    updated_at: z.string(),
    version: z.number().int(),
  })
  .meta({ id: 'Subscription' });

export const SubscriptionListQuerySchema = ListQuerySchema.extend({
  customer_id: z
    .string()
    .min(1)
    .max(64)
    .optional()
    .meta({ description: "Only this customer's subscriptions" }),
});

/** `<plan_id>[:<quantity>]`, comma-separated: the items of a proposed change, in a query string. */
const ITEMS_QUERY = /^[A-Za-z0-9_-]{1,64}(:[1-9][0-9]{0,5})?(,[A-Za-z0-9_-]{1,64}(:[1-9][0-9]{0,5})?)*$/;

export const UpcomingInvoiceQuerySchema = z
  .strictObject({
    plan_id: z
      .string()
      .min(1)
      .max(64)
      .optional()
      .meta({ description: 'Preview a change of the base plan (as PATCH plan_id would make it now)' }),
    items: z
      .string()
      .regex(
        ITEMS_QUERY,
        `is <plan_id>[:<quantity>] items separated by commas, each quantity a whole number from 1 to ${MAX_ITEM_QUANTITY}, e.g. plan-a:1,plan-b:3`,
      )
      .optional()
      .transform((text) =>
        text?.split(',').map((item) => {
          const [plan_id, quantity] = item.split(':');
          return { plan_id: plan_id!, quantity: quantity === undefined ? undefined : Number(quantity) };
        }),
      )
      .refine(
        (items) => items === undefined || items.every((item) => (item.quantity ?? 1) <= MAX_ITEM_QUANTITY),
        {
          message: `a quantity is at most ${MAX_ITEM_QUANTITY}`,
        },
      )
      .meta({
        description:
          'Preview a change of items (as PATCH items would make it now): `<plan_id>[:<quantity>]`, comma-separated, base plan first; a plan without a quantity keeps the one it has (else 1)',
      }),
    proration_behavior: z.enum(['create_prorations', 'always_invoice', 'none']).optional(),
  })
  .refine((query) => query.plan_id === undefined || query.items === undefined, {
    message: 'send plan_id (the base plan) or items (every item), not both',
    path: ['items'],
  })
  .refine(
    (query) =>
      query.proration_behavior === undefined || query.plan_id !== undefined || query.items !== undefined,
    {
      message: 'only applies to a proposed change: send it with plan_id or items',
      path: ['proration_behavior'],
    },
  );

export const UpcomingInvoiceSchema = z
  .object({
    customer_id: z.string(),
    subscription_id: z.string(),
    billing_reason: z.enum([
      'subscription_create',
      'subscription_cycle',
      'subscription_update',
      'subscription_cancel',
    ]),
    currency: z.string(),
    period_start: z.string(),
    period_end: z.string(),
    bills_usage: z.boolean(),
    next_period_start: z.string().nullable(),
    next_period_end: z.string().nullable(),
    lines: z.array(InvoiceLineSchema),
    subtotal: InvoiceSchema.shape.subtotal,
    tax: z.number().int().meta({
      description:
        "Every line's taxes at the rates finalizing now would apply (the subscription's, else the customer's)",
    }),
    total: InvoiceSchema.shape.total,
    total_excluding_tax: InvoiceSchema.shape.total_excluding_tax,
    total_taxes: InvoiceSchema.shape.total_taxes,
    tax_rates: InvoiceSchema.shape.tax_rates,
    credit_applied: z
      .number()
      .int()
      .meta({ description: "The customer's credit finalizing would apply now" }),
    credited_to_balance: z.number().int(),
    amount_due: z.number().int(),
    drafted_at: z.string().meta({
      description: 'When it would be drafted: the period end, or now for a change invoiced at once',
    }),
    as_of: z.string().meta({ description: 'The moment the preview was computed: usage counted up to it' }),
    subscription_version: z.number().int().meta({
      description:
        'The subscription version previewed: PATCH with it (If-Match) to apply exactly the change previewed',
    }),
  })
  .meta({ id: 'UpcomingInvoice' });

export type UpcomingInvoiceQuery = z.infer<typeof UpcomingInvoiceQuerySchema>;
export type CreateSubscriptionRequest = z.infer<typeof CreateSubscriptionRequestSchema>;
export type UpdateSubscriptionRequest = z.infer<typeof UpdateSubscriptionRequestSchema>;

export const subscriptionContracts = {
  'subscriptions-create': defineContract({
    body: CreateSubscriptionRequestSchema,
    idempotent: true,
    success: { status: 201, description: 'The subscription was created', schema: SubscriptionSchema },
    problems: [400, 401, 403, 409, 413, 415, 422],
  }),
  'subscriptions-budget': defineContract({
    params: IdPathSchema,
    success: {
      status: 200,
      description: 'The SmartGateway budgets row as billing sees it, with its sequence (to resync from)',
      schema: BudgetRowSchema,
    },
    problems: [400, 401, 403, 404],
  }),
  'subscriptions-get': defineContract({
    params: IdPathSchema,
    success: { status: 200, description: 'The subscription (ETag: its version)', schema: SubscriptionSchema },
    problems: [400, 401, 403, 404],
  }),
  'subscriptions-list': defineContract({
    query: SubscriptionListQuerySchema,
    success: {
      status: 200,
      description: 'A page of subscriptions, oldest first; a tenant token sees only its own',
      schema: pageOf(SubscriptionSchema, 'SubscriptionList'),
    },
    problems: [400, 401, 403],
  }),
  'subscriptions-upcoming-invoice': defineContract({
    params: IdPathSchema,
    query: UpcomingInvoiceQuerySchema,
    success: {
      status: 200,
      description:
        'The next invoice as it would be drafted now (nothing is written); with plan_id or items, as it would be after that change',
      schema: UpcomingInvoiceSchema,
    },
    problems: [400, 401, 403, 404, 409, 422],
  }),
  'subscriptions-update': defineContract({
    params: IdPathSchema,
    body: UpdateSubscriptionRequestSchema,
    ifMatch: true,
    success: {
      status: 200,
      description: 'The updated subscription (ETag: its new version)',
      schema: SubscriptionSchema,
    },
    problems: [400, 401, 403, 404, 409, 413, 415, 422],
  }),
};
