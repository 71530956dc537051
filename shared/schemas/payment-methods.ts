import { z } from 'zod';
import { IdPathSchema, ListQuerySchema, pageOf } from './common.ts';
import { defineContract } from './contract.ts';

/** Names under which a card number or security code might be sent: refused wherever they appear. */
const CARD_SECRET_KEYS = new Set([
  'number',
  'card_number',
  'cardnumber',
  'pan',
  'cvc',
  'cvv',
  'cvc2',
  'cvv2',
]);
const NEVER_CARD_NUMBERS =
  'card numbers and security codes are never accepted here: collect the card with Stripe (Stripe.js / Elements) and attach its pm_… id';

/** 12-19 digits (spaces and dashes allowed between) passing the Luhn check: what a PAN looks like. */
export function looksLikeCardNumber(value: unknown): boolean {
  if (typeof value !== 'string' && typeof value !== 'number') return false;
  const text = String(value);
  if (!/^[\d -]+$/.test(text)) return false;
  const digits = text.replace(/[ -]/g, '');
  if (digits.length < 12 || digits.length > 19) return false;
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let digit = Number(digits[digits.length - 1 - i]);
    if (i % 2 === 1) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
  }
  return sum % 10 === 0;
}

/**
 * Every field of a body that holds (or is named like) card data, so the refusal names it and says
 * why, rather than a bare "not a known field". Bounded depth: the body limit bounds the rest.
 */
function cardSecretFields(value: unknown, path: string[] = [], depth = 0): string[][] {
  if (depth > 8 || typeof value !== 'object' || value === null) {
    return looksLikeCardNumber(value) ? [path] : [];
  }
  return Object.entries(value).flatMap(([key, child]) =>
    CARD_SECRET_KEYS.has(key.toLowerCase())
      ? [[...path, key]]
      : cardSecretFields(child, [...path, key], depth + 1),
  );
}

const CARD_BRANDS = [
  'amex',
  'cartes_bancaires',
  'diners',
  'discover',
  'eftpos_au',
  'interac',
  'jcb',
  'link',
  'mastercard',
  'unionpay',
  'visa',
  'unknown',
] as const;

export const CardDetailsSchema = z
  .strictObject({
    brand: z.enum(CARD_BRANDS).meta({ example: 'visa' }),
    last4: z
      .string()
      .regex(/^\d{4}$/, 'must be the last 4 digits')
      .meta({ example: '4242' }),
    exp_month: z.number().int().min(1).max(12).meta({ example: 8 }),
    exp_year: z.number().int().min(2000).max(2100).meta({ example: 2030 }),
  })
  .meta({ id: 'CardDetails', description: 'What may be kept of a card: never its number or code' });

const AttachShape = z
  .strictObject({
    payment_method: z
      .string()
      .regex(/^pm_[A-Za-z0-9_]{1,200}$/, 'must be a Stripe PaymentMethod id (pm_…)')
      .optional()
      .meta({
        description:
          'With Stripe configured: the PaymentMethod to attach (created with Stripe.js; test mode also takes pm_card_visa, pm_card_mastercard, …)',
        example: 'pm_card_mastercard',
      }),
    type: z
      .literal('card')
      .optional()
      .meta({ description: 'Offline (no Stripe configured): the kind of method described (card)' }),
    card: CardDetailsSchema.optional().meta({
      description: 'Offline (no Stripe configured): the card described; with Stripe, Stripe provides it',
    }),
    set_default: z
      .boolean()
      .optional()
      .meta({ description: "Make it the customer's default: what pay charges when it names no method" }),
  })
  .meta({ id: 'AttachPaymentMethodRequest' });

/** The card-data check runs on the raw body first, so `number` is refused as card data, by name. */
export const AttachPaymentMethodRequestSchema = z
  .unknown()
  .superRefine((value, ctx) => {
    for (const path of cardSecretFields(value)) {
      ctx.addIssue({ code: 'custom', path, message: NEVER_CARD_NUMBERS });
    }
  })
  .pipe(AttachShape);

export type AttachPaymentMethodRequest = z.infer<typeof AttachShape>;

export const PaymentMethodSchema = z
  .object({
    id: z.string().meta({ example: 'pm_1QxY2sLkdIwHu7ixAbCdEf12' }),
    customer_id: z.string(),
    source: z.enum(['stripe', 'offline']).meta({
      description:
        'stripe: attached at Stripe and chargeable; offline: described while no Stripe was configured',
    }),
    type: z.string().meta({ example: 'card' }),
    card: CardDetailsSchema.nullable(),
    status: z.enum(['attached', 'detached']).meta({ description: 'Detaching is permanent' }),
    default: z.boolean().meta({ description: 'Whether pay charges it when it names no payment_method_id' }),
    expired: z.boolean().meta({
      description: 'The card expired (valid through the end of exp_month/exp_year, UTC): charging it fails',
    }),
    created_at: z.string(),
    updated_at: z.string(),
    detached_at: z.string().nullable(),
    synced_at: z
      .number()
      .int()
      .meta({ description: 'Stripe time (Unix seconds) of the state shown; older webhooks are ignored' }),
    version: z.number().int(),
  })
  .meta({ id: 'PaymentMethod' });

export const PaymentMethodPathSchema = IdPathSchema.extend({
  pm_id: z.string().min(1).max(255).meta({ description: 'Payment method id (pm_…)' }),
});

export const paymentMethodContracts = {
  'payment-methods-attach': defineContract({
    params: IdPathSchema,
    body: AttachPaymentMethodRequestSchema,
    documentedBody: AttachShape,
    idempotent: true,
    success: { status: 201, description: 'The payment method, attached', schema: PaymentMethodSchema },
    problems: [400, 401, 403, 404, 409, 413, 415, 422, 503],
  }),
  'payment-methods-list': defineContract({
    params: IdPathSchema,
    query: ListQuerySchema,
    success: {
      status: 200,
      description: "A page of the customer's attached payment methods, oldest first",
      schema: pageOf(PaymentMethodSchema, 'PaymentMethodList'),
    },
    problems: [400, 401, 403, 404],
  }),
  'payment-methods-get': defineContract({
    params: PaymentMethodPathSchema,
    success: {
      status: 200,
      description: 'The payment method (detached ones too)',
      schema: PaymentMethodSchema,
    },
    problems: [400, 401, 403, 404],
  }),
  'payment-methods-set-default': defineContract({
    params: PaymentMethodPathSchema,
    idempotent: true,
    success: { status: 200, description: 'The payment method, now the default', schema: PaymentMethodSchema },
    problems: [400, 401, 403, 404, 409, 422, 503],
  }),
  'payment-methods-detach': defineContract({
    params: PaymentMethodPathSchema,
    success: {
      status: 200,
      description: 'The payment method, detached for good (no longer the default, if it was)',
      schema: PaymentMethodSchema,
    },
    problems: [400, 401, 403, 404, 409, 503],
  }),
};
