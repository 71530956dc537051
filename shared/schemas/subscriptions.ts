import { z } from 'zod';
import { RoutingPolicySchema } from './catalog.ts';
import { IdPathSchema, ListQuerySchema, pageOf } from './common.ts';
import { defineContract } from './contract.ts';

const MinorUnits = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

export const CreateSubscriptionRequestSchema = z
  .strictObject({
    customer_id: z.string().min(1).max(64),
    plan_id: z.string().min(1).max(64),
    trial_days: z
      .number()
      .int()
      .min(0)
      .max(730)
      .optional()
      .meta({ description: 'Free trial length; 0 or absent for none' }),
    total_budget: MinorUnits.optional().meta({ description: "Overrides the plan's budget (minor units)" }),
  })
  .meta({ id: 'CreateSubscriptionRequest' });

export const UpdateSubscriptionRequestSchema = z
  .strictObject({
    plan_id: z.string().min(1).max(64).optional().meta({
      description: 'Change plan: prorated mid-period; another interval ends the period now and bills it',
    }),
    proration_behavior: z.enum(['create_prorations', 'always_invoice', 'none']).optional().meta({
      description:
        'With plan_id: create_prorations (default) puts the prorations on the next invoice, always_invoice drafts an invoice now, none keeps the old plan billed to the period end',
    }),
    total_budget: MinorUnits.optional().meta({ description: 'Set the SmartGateway budget (minor units)' }),
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
      patch.total_budget !== undefined ||
      patch.cancel_at_period_end !== undefined ||
      patch.cancel_now !== undefined,
    {
      message: 'name at least one change: plan_id, total_budget, cancel_at_period_end or cancel_now',
      path: [],
    },
  )
  .refine((patch) => patch.proration_behavior === undefined || patch.plan_id !== undefined, {
    message: 'only applies to a plan change: send it with plan_id',
    path: ['proration_behavior'],
  })
  .refine((patch) => patch.prorate === undefined || patch.cancel_now === true, {
    message: 'only applies to cancel_now: send it with "cancel_now": true',
    path: ['prorate'],
  })
  .meta({ id: 'UpdateSubscriptionRequest' });

export const SubscriptionSchema = z
  .object({
    id: z.string(),
    customer_id: z.string(),
    plan_id: z.string(),
    status: z.enum(['trialing', 'active', 'past_due', 'canceled']),
    currency: z.string(),
    interval: z.enum(['month', 'year']),
    fee_timing: z.enum(['in_advance', 'in_arrears']).meta({ description: "The current plan's fee timing" }),
    total_budget: z.number().int(),
    total_budget_overridden: z.boolean(),
    routing_policy: z.union([RoutingPolicySchema, z.null()]),
    billing_cycle_anchor: z.string(),
    current_period_start: z.string(),
    current_period_end: z.string(),
    fee_segment_start: z
      .string()
      .meta({ description: 'When the current plan started billing in the current period' }),
    fee_prepaid: z
      .boolean()
      .meta({ description: "Whether the current plan's fee for the rest of the period is already invoiced" }),
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

export type CreateSubscriptionRequest = z.infer<typeof CreateSubscriptionRequestSchema>;
export type UpdateSubscriptionRequest = z.infer<typeof UpdateSubscriptionRequestSchema>;

export const subscriptionContracts = {
  'subscriptions-create': defineContract({
    body: CreateSubscriptionRequestSchema,
    idempotent: true,
    success: { status: 201, description: 'The subscription was created', schema: SubscriptionSchema },
    problems: [400, 401, 403, 409, 413, 415],
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
  'subscriptions-update': defineContract({
    params: IdPathSchema,
    body: UpdateSubscriptionRequestSchema,
    ifMatch: true,
    success: {
      status: 200,
      description: 'The updated subscription (ETag: its new version)',
      schema: SubscriptionSchema,
    },
    problems: [400, 401, 403, 404, 409, 413, 415],
  }),
};
