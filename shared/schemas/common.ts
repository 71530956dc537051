import { z } from 'zod';

export const ProblemSchema = z
  .object({
    type: z.string().meta({
      description: 'Stable problem type, e.g. /problems/validation',
      example: '/problems/validation',
    }),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    errors: z
      .array(z.object({ field: z.string().meta({ example: 'email' }), message: z.string() }))
      .optional()
      .meta({ description: 'One entry per invalid field' }),
    request_id: z.string().optional(),
  })
  .meta({ id: 'Problem', description: 'RFC 9457 problem details (application/problem+json)' });

/** Keys that would reach Object.prototype if copied naively; refused wherever callers choose keys. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

export const MetadataSchema = z
  .record(
    z
      .string()
      .min(1)
      .max(40)
      .regex(/^[A-Za-z0-9_.:-]+$/, 'keys use letters, digits, _ . : -')
      .refine((key) => !FORBIDDEN_KEYS.has(key), 'this key is reserved'),
    z.string().max(500),
  )
  .refine((value) => Object.keys(value).length <= 50, 'at most 50 keys')
  .meta({
    id: 'Metadata',
    description: 'Up to 50 string key/value pairs for your own use',
    example: { plan_tier: 'gold' },
  });

export const ListQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(20).meta({ description: 'Page size, 1-100' }),
  cursor: z.string().min(1).max(2048).optional().meta({ description: 'next_cursor from the previous page' }),
});

export const pageOf = <T extends z.ZodType>(item: T, id: string) =>
  z
    .object({
      data: z.array(item),
      next_cursor: z
        .string()
        .nullable()
        .meta({ description: 'Pass as cursor to get the next page; null on the last' }),
    })
    .meta({ id });

export const IdPathSchema = z.strictObject({
  id: z.string().min(1).max(64).meta({ description: 'Resource id' }),
});
