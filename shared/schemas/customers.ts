import { z } from 'zod';
import { IdPathSchema, ListQuerySchema, MetadataSchema, pageOf } from './common.ts';
import { defineContract } from './contract.ts';
import { taxRateIds } from './tax-rates.ts';

export const CreateCustomerRequestSchema = z
  .strictObject({
    name: z.string().trim().min(1).max(256).meta({ example: 'Acme Compliance Ltd' }),
    email: z.email().max(254).meta({ example: 'billing@acme.example' }),
    metadata: MetadataSchema.optional(),
    tax_rate_ids: taxRateIds().optional(),
  })
  .meta({ id: 'CreateCustomerRequest' });

export const UpdateCustomerRequestSchema = z
  .strictObject({
    tax_rate_ids: taxRateIds().meta({
      description:
        'Replaces the tax rates of its invoices from the next one finalized ([] for none); finalized invoices keep theirs',
    }),
  })
  .meta({ id: 'UpdateCustomerRequest' });

export type UpdateCustomerRequest = z.infer<typeof UpdateCustomerRequestSchema>;

export const CustomerSchema = z
  .object({
    id: z.string().meta({ example: '3f1c2b9e-8a55-4a0e-9d4b-5f8f0b1d7c21' }),
    name: z.string(),
    email: z.string(),
    metadata: z.record(z.string(), z.string()),
    stripe_customer_id: z.string().nullable().meta({ description: 'Null until mirrored to Stripe' }),
    invoice_prefix: z.string().nullable().meta({
      description: 'Starts every invoice number of this customer; unique in the stage',
      example: 'K7QX2M9P',
    }),
    tax_rate_ids: z.array(z.string()).meta({
      description: 'Tax rates of its invoices, unless a subscription sets its own (default_tax_rate_ids)',
    }),
    credit_balance: z
      .record(z.string(), z.number().int())
      .optional()
      .meta({
        description:
          'Credit held per currency in minor units, used by the next invoices before anything is charged (on create and GET by id)',
        example: { USD: 750 },
      }),
    created_at: z.string().meta({ format: 'date-time' }),
    updated_at: z.string().meta({ format: 'date-time' }),
    version: z.number().int().meta({ description: 'Incremented on every change' }),
  })
  .meta({ id: 'Customer' });

export const CustomerListSchema = pageOf(CustomerSchema, 'CustomerList');

export type CreateCustomerRequest = z.infer<typeof CreateCustomerRequestSchema>;

export const customerContracts = {
  'customers-create': defineContract({
    body: CreateCustomerRequestSchema,
    idempotent: true,
    success: { status: 201, description: 'The customer was created', schema: CustomerSchema },
    problems: [400, 401, 403, 409, 413, 415],
  }),
  'customers-get': defineContract({
    params: IdPathSchema,
    success: { status: 200, description: 'The customer', schema: CustomerSchema },
    problems: [400, 401, 403, 404],
  }),
  'customers-update': defineContract({
    params: IdPathSchema,
    body: UpdateCustomerRequestSchema,
    ifMatch: true,
    success: {
      status: 200,
      description: 'The updated customer (ETag: its new version)',
      schema: CustomerSchema,
    },
    problems: [400, 401, 403, 404, 409, 413, 415],
  }),
  'customers-list': defineContract({
    query: ListQuerySchema,
    success: {
      status: 200,
      description: 'A page of customers, oldest first. A tenant token sees only its own customer.',
      schema: CustomerListSchema,
    },
    problems: [400, 401, 403],
  }),
};
