import { z } from 'zod';
import {
  CREDIT_NOTE_REASONS,
  MAX_CREDIT_NOTES_PER_INVOICE,
  POST_PAYMENT_DESTINATIONS,
} from '../domain/credit-note.ts';
import { IdPathSchema } from './common.ts';
import { defineContract, getContract } from './contract.ts';

/** Credit notes against a finalized invoice (shared/domain/credit-note.ts, docs/invoicing.md). */

const CreditNoteLineRequestSchema = z
  .strictObject({
    invoice_line_id: z.string().min(1).max(128).meta({ description: 'The id of a line of the invoice' }),
    amount: z
      .int('must be a whole number of minor units')
      .min(1, 'must be above 0')
      .max(Number.MAX_SAFE_INTEGER)
      .optional()
      .meta({
        description: "Minor units to give back, on the line's basis (tax excluded for exclusive rates)",
        example: 500,
      }),
    quantity: z
      .string()
      .regex(/^\d{1,20}(?:\.\d{1,6})?$/, 'must be a decimal string such as "2" or "1.5"')
      .optional()
      .meta({
        description: 'Units to give back (lines with a quantity): net × quantity / the line’s quantity',
      }),
  })
  .meta({ id: 'CreditNoteLineRequest' });

export const CreateCreditNoteRequestSchema = z
  .strictObject({
    reason: z
      .enum(CREDIT_NOTE_REASONS)
      .meta({ description: 'Why the invoice is credited (printed on the note)' }),
    memo: z.string().trim().min(1).max(500).optional().meta({ description: 'A note for the customer' }),
    lines: z
      .array(CreditNoteLineRequestSchema)
      .min(1)
      .max(100)
      .optional()
      .meta({ description: 'The lines to credit, each by amount or by quantity; absent: the whole invoice' }),
    post_payment_to: z.enum(POST_PAYMENT_DESTINATIONS).optional().meta({
      description:
        "Where what the note gives back beyond what is still due goes: the customer's credit balance (default), refund (refunded through Stripe on the invoice's payment), or out_of_band (returned outside this service, recorded only)",
    }),
  })
  .meta({ id: 'CreateCreditNoteRequest' });

const CreditNoteLineSchema = z
  .object({
    invoice_line_id: z.string(),
    description: z.string(),
    quantity: z
      .string()
      .nullable()
      .meta({ description: 'The quantity given back, for a credit by quantity' }),
    amount: z.number().int().meta({ description: "Minor units given back, on the line's basis" }),
    taxes: z.array(
      z
        .object({
          tax_rate_id: z.string(),
          percentage: z.string(),
          inclusive: z.boolean(),
          amount: z.number().int(),
        })
        .meta({ id: 'CreditNoteLineTax' }),
    ),
  })
  .meta({ id: 'CreditNoteLine' });

export const CreditNoteSchema = z
  .object({
    id: z.string(),
    number: z.string().meta({ description: "<customer's invoice prefix>-CN-<n>: gapless per customer" }),
    invoice_id: z.string(),
    invoice_number: z.string(),
    customer_id: z.string(),
    currency: z.string(),
    reason: z.enum(CREDIT_NOTE_REASONS),
    memo: z.string().nullable(),
    lines: z.array(CreditNoteLineSchema),
    subtotal: z.number().int().meta({ description: 'Σ line amounts' }),
    tax: z.number().int().meta({ description: "Σ the lines' taxes" }),
    total: z.number().int().meta({ description: 'subtotal + the exclusive taxes: what the note gives back' }),
    total_excluding_tax: z.number().int(),
    pre_payment_amount: z.number().int().meta({ description: 'What it took off what was still due' }),
    post_payment_amount: z
      .number()
      .int()
      .meta({ description: 'The rest: credit_amount + refund_amount + out_of_band_amount' }),
    credit_amount: z.number().int().meta({ description: "What went to the customer's credit balance" }),
    refund_amount: z.number().int().meta({ description: "What is refunded on the invoice's payment" }),
    out_of_band_amount: z.number().int().meta({ description: 'What was returned outside this service' }),
    refund_id: z
      .string()
      .nullable()
      .meta({ description: 'The refund carrying out refund_amount (GET /invoices/{id}/refunds)' }),
    created_at: z.string().meta({ format: 'date-time' }),
    version: z.number().int(),
  })
  .meta({ id: 'CreditNote' });

export const creditNoteContracts = {
  'credit-notes-create': defineContract({
    params: IdPathSchema,
    body: CreateCreditNoteRequestSchema,
    idempotent: true,
    success: { status: 201, description: 'The credit note was issued', schema: CreditNoteSchema },
    problems: [400, 401, 403, 404, 409, 413, 415],
  }),
  'credit-notes-list': defineContract({
    params: IdPathSchema,
    success: {
      status: 200,
      description: `The invoice's credit notes, oldest first (at most ${MAX_CREDIT_NOTES_PER_INVOICE})`,
      schema: z.object({ data: z.array(CreditNoteSchema) }).meta({ id: 'CreditNoteList' }),
    },
    problems: [400, 401, 403, 404],
  }),
  'credit-notes-get': getContract(CreditNoteSchema, 'The credit note'),
};

export const RefundSchema = z
  .object({
    id: z.string(),
    invoice_id: z.string(),
    customer_id: z.string(),
    payment_id: z.string().meta({ description: 'The payment it returns money from' }),
    credit_note_id: z.string().nullable(),
    source: z.enum(['credit_balance', 'unapplied_payment']).meta({
      description:
        'credit_balance: what the customer is owed after a credit note; unapplied_payment: money that settled nothing',
    }),
    amount: z.number().int(),
    currency: z.string(),
    method: z.enum(['stripe', 'out_of_band']),
    status: z.enum(['pending', 'succeeded', 'failed', 'canceled']).meta({
      description:
        'pending until Stripe confirms (webhooks); a failed or canceled refund gives its money back',
    }),
    stripe_refund_id: z.string().nullable(),
    sent: z
      .boolean()
      .meta({ description: 'Whether Stripe has the request (else it is sent again within the hour)' }),
    failure_reason: z.string().nullable(),
    created_at: z.string().meta({ format: 'date-time' }),
    updated_at: z.string().meta({ format: 'date-time' }),
    version: z.number().int(),
  })
  .meta({ id: 'Refund' });

export const CreateRefundRequestSchema = z
  .strictObject({
    payment_id: z.string().min(1).max(255).optional().meta({
      description:
        "The invoice's payment to refund; default: the one that paid it (name an unapplied one to refund that)",
    }),
    amount: z
      .int('must be a whole number of minor units')
      .min(1, 'must be above 0')
      .max(Number.MAX_SAFE_INTEGER)
      .optional()
      .meta({ description: 'Minor units; default: all that can be refunded', example: 2500 }),
    refunded_out_of_band: z.boolean().optional().meta({
      description:
        'Record a refund made outside this service (in the Stripe Dashboard, by bank transfer): nothing is sent',
    }),
  })
  .meta({ id: 'CreateRefundRequest' });

export const refundContracts = {
  'refunds-create': defineContract({
    params: IdPathSchema,
    body: CreateRefundRequestSchema,
    idempotent: true,
    success: { status: 201, description: 'The refund, recorded (and sent to Stripe)', schema: RefundSchema },
    problems: [400, 401, 403, 404, 409, 413, 415],
  }),
  'refunds-list': defineContract({
    params: IdPathSchema,
    success: {
      status: 200,
      description: "The invoice's refunds, oldest first",
      schema: z.object({ data: z.array(RefundSchema) }).meta({ id: 'RefundList' }),
    },
    problems: [400, 401, 403, 404],
  }),
};
