import { z } from 'zod';
import { COUPON_DURATIONS, MAX_DURATION_IN_PERIODS } from '../domain/coupon-terms.ts';
import { isPercent } from '../domain/money.ts';
import { catalogCurrency } from './catalog.ts';
import { IdPathSchema, ListQuerySchema, pageOf } from './common.ts';
import { createContract, defineContract, getContract, listContract } from './contract.ts';

const percentOff = () =>
  z
    .string({
      error: (issue) =>
        issue.code === 'invalid_type' && typeof issue.input === 'number'
          ? 'must be sent as a string such as "20" or "12.5", not a JSON number'
          : undefined,
    })
    .refine(
      (value) => isPercent(value) && !/^0(?:\.0+)?$/.test(value),
      'must be a decimal string above "0" and at most "100" with at most 4 decimal places, such as "20" or "12.5"',
    )
    .meta({ description: 'Percent off the invoice (before tax)', example: '20' });

export const CreateCouponRequestSchema = z
  .strictObject({
    name: z
      .string()
      .trim()
      .min(1)
      .max(100)
      .meta({ description: 'Printed on the invoice line', example: 'Launch 20' }),
    percent_off: percentOff().optional(),
    amount_off: z
      .int('must be a whole number of minor units')
      .min(1, 'must be above 0')
      .max(Number.MAX_SAFE_INTEGER)
      .optional()
      .meta({ description: 'Minor units off each invoice it discounts (with currency)', example: 500 }),
    currency: catalogCurrency()
      .optional()
      .meta({ description: 'The currency of amount_off (amount_off only)' }),
    duration: z.enum(COUPON_DURATIONS as [string, ...string[]]).meta({
      description: 'once: one billing period; repeating: duration_in_periods periods; forever',
    }),
    duration_in_periods: z.int().min(1).max(MAX_DURATION_IN_PERIODS).optional().meta({
      description: 'repeating only: how many billing periods (not months: a yearly plan’s period is a year)',
    }),
    max_redemptions: z
      .int()
      .min(1)
      .max(1_000_000_000)
      .optional()
      .meta({ description: 'At most this many redemptions in all' }),
    redeem_by: z.string().max(40).optional().meta({
      description: 'No redemption after this moment (ISO 8601 with its zone)',
      example: '2027-06-30T23:59:59Z',
    }),
  })
  .refine((body) => (body.percent_off === undefined) !== (body.amount_off === undefined), {
    message: 'send percent_off or amount_off, exactly one of them',
    path: ['percent_off'],
  })
  .refine((body) => body.amount_off === undefined || body.currency !== undefined, {
    message: 'an amount_off coupon needs the currency of its amount',
    path: ['currency'],
  })
  .refine((body) => body.percent_off === undefined || body.currency === undefined, {
    message: 'a percent_off coupon takes no currency: it applies to an invoice in any currency',
    path: ['currency'],
  })
  .meta({ id: 'CreateCouponRequest' });

export type CreateCouponRequest = z.infer<typeof CreateCouponRequestSchema>;

export const CouponSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    percent_off: z.string().nullable(),
    amount_off: z.number().int().nullable(),
    currency: z.string().nullable(),
    duration: z.enum(COUPON_DURATIONS as [string, ...string[]]),
    duration_in_periods: z.number().int().nullable(),
    max_redemptions: z.number().int().nullable(),
    redeem_by: z.string().nullable(),
    times_redeemed: z.number().int(),
    active: z.boolean(),
    created_at: z.string().meta({ format: 'date-time' }),
    updated_at: z.string().meta({ format: 'date-time' }),
    version: z.number().int(),
  })
  .meta({ id: 'Coupon' });

export const RedeemCouponRequestSchema = z
  .strictObject({
    coupon_id: z.string().min(1).max(64),
    subscription_id: z.string().min(1).max(64).optional().meta({
      description: "Discount only this subscription's invoices; absent: every invoice of the customer",
    }),
  })
  .meta({ id: 'RedeemCouponRequest' });

export type RedeemCouponRequest = z.infer<typeof RedeemCouponRequestSchema>;

export const DiscountSchema = z
  .object({
    id: z.string(),
    customer_id: z.string(),
    subscription_id: z.string().nullable(),
    coupon: CouponSchema.omit({
      times_redeemed: true,
      active: true,
      created_at: true,
      updated_at: true,
      version: true,
    }).meta({
      id: 'RedeemedCoupon',
      description: 'The coupon as it was when redeemed',
    }),
    discounted_periods: z.array(z.string()).meta({ description: 'Billing periods it has discounted so far' }),
    ended_at: z
      .string()
      .nullable()
      .meta({ description: 'When it was removed: it discounts nothing finalized after' }),
    created_at: z.string(),
    updated_at: z.string(),
    version: z.number().int(),
  })
  .meta({ id: 'Discount' });

const DiscountPathSchema = z.strictObject({
  id: z.string().min(1).max(64).meta({ description: 'Customer id' }),
  discount_id: z.string().min(1).max(64),
});

export const couponContracts = {
  'coupons-create': createContract(CreateCouponRequestSchema, CouponSchema, 'coupon'),
  'coupons-get': getContract(CouponSchema, 'The coupon, with its redemptions so far'),
  'coupons-list': listContract(
    pageOf(CouponSchema, 'CouponList'),
    ListQuerySchema,
    'A page of coupons, oldest first',
  ),
  'discounts-create': defineContract({
    params: IdPathSchema,
    body: RedeemCouponRequestSchema,
    idempotent: true,
    success: { status: 201, description: 'The coupon was redeemed: the discount', schema: DiscountSchema },
    problems: [400, 401, 403, 404, 409, 413, 415],
  }),
  'discounts-list': defineContract({
    params: IdPathSchema,
    success: {
      status: 200,
      description: "The customer's discounts, oldest first (ended ones included)",
      schema: z.object({ data: z.array(DiscountSchema) }).meta({ id: 'DiscountList' }),
    },
    problems: [400, 401, 403, 404],
  }),
  'discounts-delete': defineContract({
    params: DiscountPathSchema,
    success: {
      status: 200,
      description: 'The discount, ended: it discounts no invoice finalized from now',
      schema: DiscountSchema,
    },
    problems: [400, 401, 403, 404],
  }),
};
