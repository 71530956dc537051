import { z } from 'zod';
import { MAX_ONE_TIME_QUANTITY } from '../domain/one-time.ts';
import { catalogCurrency } from './catalog.ts';
import { IdPathSchema, ListQuerySchema, pageOf } from './common.ts';
import { defineContract } from './contract.ts';
import { InvoiceSchema } from './invoices.ts';

/** One-time purchases: invoice items on a subscription's next invoice, and one-off invoices. */

const entityId = () => z.string().min(1).max(64);

const quantity = () =>
  z
    .int({
      error: (issue) =>
        issue.code === 'invalid_type' && typeof issue.input === 'number'
          ? 'must be a whole number'
          : undefined,
    })
    .min(1, 'must be at least 1')
    .max(
      MAX_ONE_TIME_QUANTITY,
      `must be at most ${MAX_ONE_TIME_QUANTITY}; quantity × unit_amount must also be at most 10^12 minor units`,
    )
    .meta({
      description: `Units sold, 1-${MAX_ONE_TIME_QUANTITY}; quantity × the price's unit_amount is at most 10^12 minor units`,
      example: 2,
    });

const description = () =>
  z
    .string()
    .trim()
    .min(1)
    .max(500)
    .optional()
    .meta({ description: "The line's text; default: the price's nickname and quantity" });

export const AddInvoiceItemRequestSchema = z
  .strictObject({
    customer_id: entityId(),
    subscription_id: entityId().meta({ description: 'Its next invoice takes the item' }),
    price_id: entityId().meta({ description: "A one_time price in the subscription's currency" }),
    quantity: quantity(),
    description: description(),
  })
  .meta({ id: 'AddInvoiceItemRequest' });

export type AddInvoiceItemRequest = z.infer<typeof AddInvoiceItemRequestSchema>;

export const InvoiceItemSchema = z
  .object({
    id: z.string(),
    kind: z
      .enum(['one_time', 'fee', 'used_time', 'proration_credit', 'proration_charge'])
      .meta({ description: 'one_time: added by POST /invoice-items; the others: what a plan change left' }),
    amount: z.int().meta({ description: 'Minor units; one_time: exactly quantity × unit_amount' }),
    currency: z.string(),
    subscription_id: z.string(),
    customer_id: z.string(),
    plan_id: z.string().nullable(),
    price_id: z.string().optional().meta({ description: 'one_time items' }),
    quantity: z.int().optional().meta({ description: 'one_time items' }),
    unit_amount: z.int().optional().meta({ description: 'one_time items' }),
    description: z.string(),
    period_start: z.string(),
    period_end: z.string(),
    created_at: z.string(),
    invoice_id: z.string().nullable().meta({ description: 'The invoice that took it; null while pending' }),
  })
  .meta({ id: 'InvoiceItem' });

export const CreateOneOffInvoiceRequestSchema = z
  .strictObject({
    customer_id: entityId(),
    currency: catalogCurrency(),
    items: z
      .array(z.strictObject({ price_id: entityId(), quantity: quantity(), description: description() }))
      .min(1)
      .max(50)
      .meta({ description: 'One-time prices in currency, 1-50 lines' }),
  })
  .meta({ id: 'CreateOneOffInvoiceRequest' });

export type CreateOneOffInvoiceRequest = z.infer<typeof CreateOneOffInvoiceRequestSchema>;

export const invoiceItemContracts = {
  'invoice-items-create': defineContract({
    body: AddInvoiceItemRequestSchema,
    idempotent: true,
    success: {
      status: 201,
      description: "The pending item; the subscription's next invoice takes it",
      schema: InvoiceItemSchema,
    },
    problems: [400, 401, 403, 409, 413, 415, 422],
  }),
  'invoice-items-list': defineContract({
    query: ListQuerySchema.extend({
      subscription_id: entityId(),
      pending: z
        .enum(['true', 'false'])
        .optional()
        .meta({ description: 'true: only items no invoice took yet; false: only those an invoice took' }),
    }),
    success: {
      status: 200,
      description: "A page of the subscription's invoice items (prorations too), oldest first",
      schema: pageOf(InvoiceItemSchema, 'InvoiceItemList'),
    },
    problems: [400, 401, 403, 404],
  }),
  'invoice-items-delete': defineContract({
    params: IdPathSchema,
    success: {
      status: 200,
      description: 'The item was deleted (only a one_time item no invoice took yet)',
      schema: z.object({ id: z.string(), deleted: z.literal(true) }).meta({ id: 'DeletedInvoiceItem' }),
    },
    problems: [400, 401, 403, 404, 409],
  }),
  'invoices-create': defineContract({
    body: CreateOneOffInvoiceRequestSchema,
    idempotent: true,
    success: {
      status: 201,
      description:
        'The one-off invoice (billing_reason manual, no subscription), finalized: numbered, credit applied, open (or paid when nothing is due)',
      schema: InvoiceSchema,
    },
    problems: [400, 401, 403, 409, 413, 415, 422],
  }),
};
