import { z } from 'zod';
import { isPercent } from '../domain/money.ts';
import { MAX_TAX_RATES_PER_CUSTOMER, PERCENTAGE_RULE } from '../domain/tax.ts';
import { ListQuerySchema, pageOf } from './common.ts';
import { createContract, getContract, listContract } from './contract.ts';

/** A percentage as the tax rule reads it: a decimal string, never a JSON number (which cannot hold 8.875 exactly). */
const percentage = () =>
  z
    .string({
      error: (issue) =>
        issue.code === 'invalid_type' && typeof issue.input === 'number'
          ? 'must be sent as a string such as "19" or "8.875", not a JSON number'
          : undefined,
    })
    .refine(isPercent, PERCENTAGE_RULE)
    .meta({ description: 'Percent, a decimal string of at most 4 places from "0" to "100"', example: '19' });

export const CreateTaxRateRequestSchema = z
  .strictObject({
    display_name: z
      .string()
      .trim()
      .min(1)
      .max(50)
      .meta({ description: 'Printed on invoices', example: 'VAT' }),
    percentage: percentage(),
    inclusive: z.boolean().meta({
      description:
        'True: the prices already hold this tax (it is shown, not added); false: it is added on top of them',
    }),
    jurisdiction: z
      .string()
      .trim()
      .min(1)
      .max(50)
      .optional()
      .meta({ description: 'Where the tax is owed, as printed on invoices', example: 'DE' }),
    description: z.string().trim().max(1024).optional(),
  })
  .meta({ id: 'CreateTaxRateRequest' });

export type CreateTaxRateRequest = z.infer<typeof CreateTaxRateRequestSchema>;

export const TaxRateSchema = z
  .object({
    id: z.string(),
    display_name: z.string(),
    percentage: z.string().meta({ example: '19' }),
    inclusive: z.boolean(),
    jurisdiction: z.string().nullable(),
    description: z.string().nullable(),
    active: z.boolean(),
    created_at: z.string().meta({ format: 'date-time' }),
    updated_at: z.string().meta({ format: 'date-time' }),
    version: z.number().int(),
  })
  .meta({
    id: 'TaxRate',
    description: 'Never edited: invoices keep the percentage they were taxed at; create a new rate instead',
  });

/** A list of tax rate ids, as a customer or a subscription carries it (each applied to every line). */
export const taxRateIds = () =>
  z
    .array(z.string().min(1).max(64))
    .max(MAX_TAX_RATES_PER_CUSTOMER, `at most ${MAX_TAX_RATES_PER_CUSTOMER} tax rates`)
    .refine((ids) => new Set(ids).size === ids.length, 'must not name a tax rate twice')
    .meta({
      description: `Tax rates applied to every line of its invoices (at most ${MAX_TAX_RATES_PER_CUSTOMER}, all inclusive or all exclusive)`,
      example: ['0b6f9f5e-2f0e-4c39-9b1f-6f8e7d1c2a10'],
    });

export const taxRateContracts = {
  'tax-rates-create': createContract(CreateTaxRateRequestSchema, TaxRateSchema, 'tax rate'),
  'tax-rates-get': getContract(TaxRateSchema, 'The tax rate'),
  'tax-rates-list': listContract(
    pageOf(TaxRateSchema, 'TaxRateList'),
    ListQuerySchema,
    'A page of tax rates, oldest first',
  ),
};
