import { z } from 'zod';
import { METRIC_PATTERN } from '../domain/price-rules.ts';
import { IdPathSchema, ListQuerySchema, pageOf } from './common.ts';
import { defineContract } from './contract.ts';

export const MAX_RECORDS_PER_BATCH = 1000;

/** A quantity as sent (number or decimal string) → an exact decimal string, never a float sum. */
export const QuantitySchema = z
  .union([z.number(), z.string()])
  .transform((value, context) => {
    const text = typeof value === 'number' ? String(value) : value;
    if (typeof value === 'number' && !Number.isFinite(value)) {
      context.addIssue({ code: 'custom', message: 'must be a finite number' });
      return z.NEVER;
    }
    // A JSON number is a double by the time we see it: past 15 significant digits it may already
    // have been rounded, so such quantities must come as decimal strings.
    if (
      typeof value === 'number' &&
      text.replace(/e.*$/, '').replace(/\D/g, '').replace(/^0+/, '').length > 15
    ) {
      context.addIssue({
        code: 'custom',
        message: 'has more than 15 significant digits; send it as a decimal string',
      });
      return z.NEVER;
    }
    if (!/^\d{1,13}(\.\d{1,6})?$/.test(text)) {
      context.addIssue({
        code: 'custom',
        message: /^-/.test(text)
          ? 'must not be negative'
          : 'must be a non-negative number below 10^13 with at most 6 decimals (e.g. 42 or "2.5")',
      });
      return z.NEVER;
    }
    return text
      .replace(/^0+(?=\d)/, '')
      .replace(/(\.\d*?)0+$/, '$1')
      .replace(/\.$/, '');
  })
  .meta({ description: 'Non-negative; a JSON number or a decimal string, at most 6 decimals', example: 3 });

export const UsageRecordSchema = z
  .strictObject({
    idempotency_key: z
      .string()
      .regex(/^[A-Za-z0-9_.:-]{1,255}$/, 'use 1-255 of A-Z a-z 0-9 _ . : -')
      .meta({ description: 'Unique per subscription; a record whose key was seen is never counted again' }),
    subscription_id: z.string().min(1).max(64),
    metric: z.string().regex(METRIC_PATTERN, 'must look like attestations or llm.tokens_in'),
    quantity: QuantitySchema,
    timestamp: z.iso
      .datetime({ offset: true })
      .optional()
      .meta({ description: 'When the usage happened (ISO 8601); defaults to now' }),
  })
  .meta({ id: 'UsageRecord' });

export type UsageRecordInput = z.output<typeof UsageRecordSchema>;

const UsageBatchSchema = z
  .strictObject({ records: z.array(UsageRecordSchema).min(1).max(MAX_RECORDS_PER_BATCH) })
  .meta({ id: 'UsageBatch' });

const BatchShapeSchema = z.strictObject({ records: z.array(z.unknown()).min(1).max(MAX_RECORDS_PER_BATCH) });

/**
 * What the handler parses first: one record, or `records` of anything, so that each record can be
 * validated on its own and a bad one reported by index without refusing the others.
 */
export const UsageEnvelopeSchema = z.record(z.string(), z.unknown()).superRefine((body, context) => {
  if (!('records' in body)) return;
  const batch = BatchShapeSchema.safeParse(body);
  for (const issue of batch.success ? [] : batch.error.issues) {
    const keys = issue.code === 'unrecognized_keys' ? issue.keys : [];
    const message =
      issue.code === 'unrecognized_keys'
        ? 'is not a known field'
        : `${issue.message} (a batch holds 1-1000 records)`;
    for (const path of keys.length > 0 ? keys.map((key) => [key]) : [issue.path]) {
      context.addIssue({ code: 'custom', message, path: path.map(String) });
    }
  }
});

export const UsageRecordResultSchema = z
  .object({
    index: z.number().int(),
    idempotency_key: z.string().nullable(),
    status: z.enum(['accepted', 'duplicate', 'rejected']),
    period_start: z.string().optional(),
    error: z
      .object({
        status: z.number().int(),
        detail: z.string(),
        errors: z.array(z.object({ field: z.string(), message: z.string() })),
      })
      .optional(),
  })
  .meta({ id: 'UsageRecordResult' });

export const UsageBatchResultSchema = z
  .object({
    accepted: z.number().int(),
    duplicates: z.number().int(),
    rejected: z.number().int(),
    results: z.array(UsageRecordResultSchema),
  })
  .meta({ id: 'UsageBatchResult' });

export const UsageAggregateSchema = z
  .object({
    subscription_id: z.string(),
    period_start: z.string(),
    period_end: z.string(),
    currency: z.string(),
    metrics: z.array(
      z.object({
        metric: z.string(),
        quantity: z.string().meta({ description: 'Exact decimal sum of the counted records' }),
        records: z.number().int(),
        amount: z.number().int().meta({ description: 'Rated so far with the price, minor units' }),
        price_id: z.string(),
      }),
    ),
  })
  .meta({ id: 'UsageAggregate' });

export const UsageRecordEntrySchema = z
  .object({
    idempotency_key: z.string(),
    timestamp: z.string().meta({ description: 'The moment it was counted at (ISO 8601)' }),
    quantity: z.string().meta({ description: 'Exact decimal, as counted' }),
    metric: z.string(),
    price_id: z.string().meta({ description: 'The price it was rated with (its invoice line)' }),
  })
  .meta({ id: 'UsageRecordEntry' });

const UsageRecordPageSchema = pageOf(UsageRecordEntrySchema, 'UsageRecordList');

export const usageContracts = {
  'usage-records-create': defineContract({
    body: UsageEnvelopeSchema,
    documentedBody: z.union([UsageRecordSchema, UsageBatchSchema]),
    success: {
      status: 200,
      description:
        'Per record: accepted, duplicate (its key was seen: not counted again) or rejected (with the field). ' +
        'A single record answers 201 when accepted and a problem when rejected; a batch answers 200 with every result.',
      schema: UsageBatchResultSchema,
    },
    problems: [400, 401, 403, 404, 409, 413, 415, 422],
  }),
  'subscriptions-usage': defineContract({
    params: IdPathSchema,
    query: z.strictObject({
      metric: z.string().regex(METRIC_PATTERN).optional(),
      at: z.iso
        .datetime({ offset: true })
        .optional()
        .meta({ description: 'A moment in the period to show; default now' }),
    }),
    success: {
      status: 200,
      description: "The period's exact usage per metric",
      schema: UsageAggregateSchema,
    },
    problems: [400, 401, 403, 404, 422],
  }),
  'subscriptions-usage-records': defineContract({
    params: IdPathSchema,
    query: ListQuerySchema.extend({
      metric: z.string().regex(METRIC_PATTERN).optional(),
      at: z.iso
        .datetime({ offset: true })
        .optional()
        .meta({ description: 'A moment in the period to list; default now' }),
    }),
    success: {
      status: 200,
      description:
        "A page of the period's counted records (by counter shard, then metric, price, timestamp, key)",
      schema: UsageRecordPageSchema,
    },
    problems: [400, 401, 403, 404, 410, 422],
  }),
  'invoices-line-usage-records': defineContract({
    params: z.strictObject({
      id: z.string().min(1).max(64).meta({ description: 'Invoice id' }),
      line_id: z.string().min(1).max(64).meta({ description: 'A usage line of the invoice' }),
    }),
    query: ListQuerySchema,
    success: {
      status: 200,
      description:
        "A page of exactly the records counted into the line: their count, quantity sum and digest are the line's",
      schema: UsageRecordPageSchema,
    },
    problems: [400, 401, 403, 404, 410, 422],
  }),
};
