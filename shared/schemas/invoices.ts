import { z } from 'zod';
import { IdPathSchema, ListQuerySchema, pageOf } from './common.ts';
import { defineContract } from './contract.ts';

const LineTaxSchema = z
  .object({
    tax_rate_id: z.string(),
    percentage: z.string().meta({ example: '19' }),
    inclusive: z.boolean(),
    taxable_amount: z.number().int().meta({ description: 'The line before tax, minor units' }),
    amount: z.number().int().meta({ description: "This rate's tax on the line, rounded once" }),
  })
  .meta({ id: 'LineTax' });

export const InvoiceLineSchema = z.object({
  id: z.string().meta({
    description: 'Stable on its invoice; a usage line lists its records at lines/{line_id}/usage-records',
  }),
  kind: z
    .enum([
      'subscription_fee',
      'usage',
      'proration',
      'one_time',
      'threshold_usage',
      'threshold_credit',
      'discount',
    ])
    .meta({
      description:
        "threshold_usage: usage of one metric and price invoiced mid-period (progressive billing), what its rating so far adds to earlier threshold invoices; threshold_credit: on the invoice billing the period's usage, minus what one threshold invoice billed; discount: minus what one coupon took off the lines it discounts (usage, one-time, fees in arrears; they are taxed on what it left)",
    }),
  description: z.string(),
  quantity: z
    .string()
    .nullable()
    .meta({ description: 'usage: the exact quantity; one_time: the units sold' }),
  price_id: z.string().nullable(),
  metric: z.string().nullable(),
  amount: z.number().int().meta({ description: 'Minor units; negative for credits' }),
  plan_id: z.string().nullable().meta({ description: 'The plan a fee or proration line is for' }),
  period_start: z.string(),
  period_end: z.string(),
  pending_item_id: z.string().nullable(),
  records: z
    .number()
    .int()
    .nullable()
    .meta({ description: 'Usage: how many records were counted into the line; null for other kinds' }),
  records_digest: z
    .string()
    .nullable()
    .meta({
      description:
        "Usage: the sum mod 2^128 of each record's SHA-256(idempotency_key) first 16 bytes, 32 hex digits " +
        '(docs/usage-metering.md); null when some records were counted before digests existed',
    }),
  records_kept_until: z.string().nullable().meta({
    description:
      "Usage: until when the line's records can be listed (then 410); null for other kinds and older lines",
  }),
  unit_amount: z
    .number()
    .int()
    .optional()
    .meta({ description: 'one_time lines only: the price of one unit (amount = quantity × unit_amount)' }),
  credited_invoice_id: z
    .string()
    .optional()
    .meta({ description: 'threshold_credit lines only: the threshold invoice whose usage the line credits' }),
  coupon_id: z.string().optional().meta({ description: 'discount lines only: the coupon' }),
  discount_id: z
    .string()
    .optional()
    .meta({ description: "discount lines only: the customer's redemption of the coupon" }),
  taxes: z
    .array(LineTaxSchema)
    .meta({ description: "Each of the invoice's tax rates on this line; empty until it is finalized" }),
  credited_amount: z.number().int().optional().meta({
    description: 'What credit notes gave back of this line so far (tax excluded); absent until one does',
  }),
  credited_quantity: z
    .string()
    .nullable()
    .optional()
    .meta({ description: 'The quantity credit notes gave back, when credited by quantity' }),
  credited_taxes: z
    .array(z.number().int())
    .optional()
    .meta({ description: 'The tax credit notes gave back, rate by rate in the order of taxes' }),
});

export const InvoiceSchema = z
  .object({
    id: z.string(),
    customer_id: z.string(),
    subscription_id: z
      .string()
      .nullable()
      .meta({ description: 'Null on a one-off invoice (billing_reason manual)' }),
    number: z.string().nullable().meta({ description: 'Gapless per customer; assigned when finalized' }),
    status: z.enum(['draft', 'open', 'paid', 'void', 'uncollectible']),
    billing_reason: z
      .enum([
        'subscription_create',
        'subscription_cycle',
        'subscription_update',
        'subscription_cancel',
        'subscription_threshold',
        'manual',
      ])
      .meta({
        description:
          "The lifecycle moment that drafted it (docs/billing-rules.md); manual: a one-off invoice; subscription_threshold: the period's usage so far, invoiced when it passed one of the plan's invoice_thresholds",
      }),
    usage_threshold: z.number().int().optional().meta({
      description: 'subscription_threshold invoices only: the threshold it was made for, minor units',
    }),
    currency: z.string(),
    period_start: z.string().meta({ description: 'The stretch of the subscription this invoice closes' }),
    period_end: z.string(),
    bills_usage: z
      .boolean()
      .meta({ description: 'Whether it bills the usage of [period_start, period_end)' }),
    next_period_start: z
      .string()
      .nullable()
      .meta({ description: 'The subscription period current once this is paid; null on a final invoice' }),
    next_period_end: z.string().nullable(),
    lines: z.array(InvoiceLineSchema),
    subtotal: z
      .number()
      .int()
      .meta({ description: 'Exactly the sum of the lines (inclusive taxes are inside them)' }),
    tax: z.number().int().meta({ description: "Every line's taxes; 0 on a draft (taxed when finalized)" }),
    total: z.number().int().meta({ description: 'subtotal + the exclusive taxes: what the lines bill' }),
    total_excluding_tax: z.number().int().meta({ description: 'total − tax' }),
    total_taxes: z
      .array(
        LineTaxSchema.extend({
          display_name: z.string(),
          jurisdiction: z.string().nullable(),
        }).meta({ id: 'InvoiceTaxTotal' }),
      )
      .meta({ description: "Tax per rate: the sums of the lines' taxes, never rounded again" }),
    tax_rates: z
      .array(
        z
          .object({
            id: z.string(),
            display_name: z.string(),
            jurisdiction: z.string().nullable(),
            percentage: z.string(),
            inclusive: z.boolean(),
          })
          .meta({ id: 'AppliedTaxRate' }),
      )
      .meta({ description: 'The rates it was taxed at, as they were when it was finalized' }),
    credit_applied: z
      .number()
      .int()
      .meta({ description: "The customer's credit balance used for this invoice when finalized" }),
    credited_to_balance: z
      .number()
      .int()
      .meta({ description: "A total below zero: what it added to the customer's credit balance" }),
    amount_due: z.number().int().meta({
      description: 'total − credit_applied − pre_payment_credit_notes_amount, never below 0',
    }),
    pre_payment_credit_notes_amount: z
      .number()
      .int()
      .meta({ description: 'What credit notes took off what was due' }),
    post_payment_credit_notes_amount: z.number().int().meta({
      description:
        "What credit notes gave back beyond what was due (to the customer's credit balance, or outside)",
    }),
    credit_note_count: z.number().int().meta({ description: 'How many credit notes it has' }),
    amount_paid: z.number().int(),
    due_date: z.string().nullable(),
    stripe_payment_intent_id: z.string().nullable(),
    payment_attempts: z.number().int().meta({ description: 'Collection attempts declined so far' }),
    last_payment_error: z
      .object({
        payment_intent_id: z.string(),
        attempt: z.number().int(),
        code: z.string().meta({ description: "Stripe's decline or error code" }),
        failed_at: z.string(),
      })
      .nullable()
      .meta({ description: 'The latest declined attempt, while the invoice is unpaid' }),
    pending_payment: z
      .object({
        attempt: z.number().int(),
        payment_method: z.string(),
        payment_intent_id: z.string().nullable(),
        status: z.enum(['requested', 'processing']),
        since: z.string(),
      })
      .nullable()
      .meta({
        description:
          'The collection attempt under way at Stripe: its payment method is pinned for retries; while processing, pay answers 409',
      }),
    created_at: z.string(),
    updated_at: z.string(),
    finalized_at: z.string().nullable(),
    issuer: z.array(z.string()).optional().meta({
      description:
        'The seller (name, address, tax id lines) as the stage stated it when this was finalized: what its PDF prints',
    }),
    paid_at: z.string().nullable(),
    voided_at: z.string().nullable(),
    marked_uncollectible_at: z.string().nullable(),
    version: z.number().int(),
  })
  .meta({ id: 'Invoice' });

const NoBody = undefined;

export const PayInvoiceRequestSchema = z
  .strictObject({
    paid_out_of_band: z.boolean().optional().meta({
      description: 'Record a payment received outside the system (required while Stripe is not configured)',
    }),
    payment_method_id: z.string().min(1).max(255).optional().meta({
      description:
        "One of the customer's attached, unexpired payment methods to charge; default: the customer's default",
      example: 'pm_1QxY2sLkdIwHu7ixAbCdEf12',
    }),
  })
  .refine((body) => !(body.paid_out_of_band && body.payment_method_id !== undefined), {
    path: ['payment_method_id'],
    message: 'names a method to charge, which a payment received elsewhere does not use',
  })
  .meta({ id: 'PayInvoiceRequest' });

const action = (description: string) =>
  defineContract({
    params: IdPathSchema,
    body: NoBody,
    idempotent: true,
    success: { status: 200, description, schema: InvoiceSchema },
    problems: [400, 401, 403, 404, 409],
  });

export const invoiceContracts = {
  'invoices-list': defineContract({
    query: ListQuerySchema.extend({
      customer_id: z.string().min(1).max(64).optional(),
      status: z.enum(['draft', 'open', 'paid', 'void', 'uncollectible']).optional(),
    }),
    success: { status: 200, description: 'A page of invoices', schema: pageOf(InvoiceSchema, 'InvoiceList') },
    problems: [400, 401, 403],
  }),
  'invoices-get': defineContract({
    params: IdPathSchema,
    success: { status: 200, description: 'The invoice', schema: InvoiceSchema },
    problems: [400, 401, 403, 404],
  }),
  'invoices-finalize': action(
    'The invoice, finalized: numbered, lines frozen, its period closed to late usage',
  ),
  'invoices-void': action('The invoice, void'),
  'invoices-mark-uncollectible': action('The invoice, marked uncollectible'),
  'invoices-pay': defineContract({
    params: IdPathSchema,
    body: PayInvoiceRequestSchema,
    idempotent: true,
    success: {
      status: 200,
      description:
        'The invoice: paid, or still open while Stripe processes the payment (the webhook settles it)',
      schema: InvoiceSchema,
    },
    problems: [400, 401, 402, 403, 404, 409, 422, 503],
  }),
};
