import { z } from 'zod';
import {
  MAX_INVOICE_THRESHOLDS,
  MAX_THRESHOLD_PERCENT,
  MAX_THRESHOLDS,
  thresholdLabel,
} from '../domain/budget-policy.ts';

/** How the SmartGateway enforces a budget and when it alerts (docs/smart-gateway.md). */
const BudgetThresholdSchema = z
  .strictObject({
    percent: z
      .int()
      .min(1)
      .max(MAX_THRESHOLD_PERCENT)
      .optional()
      .meta({ description: 'Percent of total_budget (1 to 1000)', example: 80 }),
    amount: z
      .int()
      .min(1)
      .max(1_000_000_000_000)
      .optional()
      .meta({ description: 'An amount of spend, integer minor units' }),
    of: z.enum(['spend', 'forecast']).optional().meta({
      description: "spend (default): the period's spend so far; forecast: its projection at the period's end",
    }),
  })
  .refine((t) => (t.percent === undefined) !== (t.amount === undefined), {
    message: 'set exactly one of percent and amount',
  })
  .meta({ id: 'BudgetThreshold' });

export const BudgetPolicyRequestSchema = z
  .strictObject({
    enforcement: z.enum(['none', 'soft', 'hard']).meta({
      description:
        'none: the gateway never refuses; soft: it allows and flags spend over the budget; hard: it refuses what the budget no longer covers',
    }),
    thresholds: z
      .array(BudgetThresholdSchema)
      .max(MAX_THRESHOLDS)
      .default([])
      .superRefine((list, context) => {
        // The error names the repeated entry, not the whole list.
        const labels = list.map(thresholdLabel);
        const repeated = labels.findIndex((label, i) => labels.indexOf(label) !== i);
        if (repeated >= 0)
          context.addIssue({
            code: 'custom',
            path: [repeated],
            message: `repeats thresholds.${labels.indexOf(labels[repeated]!)} (${labels[repeated]}); each threshold may appear once`,
          });
      })
      .meta({ description: `Up to ${MAX_THRESHOLDS}; each raises budget.threshold_crossed once per period` }),
    invoice_thresholds: z
      .array(z.int().min(1).max(1_000_000_000_000))
      .max(MAX_INVOICE_THRESHOLDS)
      .default([])
      .superRefine((list, context) => {
        const i = list.findIndex((amount, j) => j > 0 && amount <= list[j - 1]!);
        if (i > 0)
          context.addIssue({
            code: 'custom',
            path: [i],
            message: `must be above ${list[i - 1]} (the one before it): list the amounts in ascending order, each once`,
          });
      })
      .meta({
        description: `Progressive billing: up to ${MAX_INVOICE_THRESHOLDS} amounts of the period's rated usage (integer minor units, ascending) at which the usage so far is invoiced at once, each at most once per period; the period's closing invoice then credits what they billed`,
        example: [50_000, 200_000],
      }),
  })
  .meta({ id: 'BudgetPolicyRequest' });

export const BudgetPolicySchema = z
  .object({
    enforcement: z.enum(['none', 'soft', 'hard']),
    thresholds: z.array(
      z.object({
        percent: z.int().optional(),
        amount: z.int().optional(),
        of: z.enum(['spend', 'forecast']).optional(),
      }),
    ),
    invoice_thresholds: z.array(z.int()).optional().meta({
      description:
        'Progressive-billing thresholds, minor units; absent on a policy set before they existed (none)',
    }),
  })
  .meta({ id: 'BudgetPolicy' });

/** GET /subscriptions/{id}/budget: the SmartGateway budgets row as billing sees it (budget-row.ts). */
export const BudgetRowSchema = z
  .object({
    tenant_id: z.string(),
    subscription_id: z.string(),
    plan_id: z.string(),
    total_budget: z.int(),
    currency: z.string(),
    current_spend: z.int().meta({ description: "The period's rated usage so far, minor units" }),
    remaining: z.int().meta({ description: 'max(0, total_budget − current_spend)' }),
    enforcement: z.enum(['none', 'soft', 'hard']),
    period_start: z.string(),
    period_end: z.string(),
    status: z.string(),
    cancel_at_period_end: z.boolean(),
    version: z.int().meta({ description: 'The subscription version the row was computed from' }),
    sequence: z.int().meta({
      description: 'Grows by one with every change of the row; budget.updated n carries sequence n',
    }),
    highest_threshold_crossed: z.string().nullable(),
    projected_spend_at_period_end: z.int().nullable(),
    projected_exhaustion_at: z.string().nullable(),
    last_paid_invoice_id: z.string().nullable(),
    updated_at: z.string(),
    thresholds_crossed: z
      .array(z.string())
      .meta({ description: 'Every threshold crossed this period, in order' }),
    budget_policy: BudgetPolicySchema,
  })
  .meta({ id: 'BudgetRow' });
