import { z } from 'zod';
import { defineContract } from './contract.ts';

export const WebhookReceiptSchema = z
  .object({
    received: z.literal(true),
    event_id: z.string(),
    duplicate: z.boolean().meta({ description: 'True when this Stripe event id was already received' }),
    outcome: z.enum(['processed', 'ignored', 'duplicate']).meta({
      description:
        'processed: billing state changed or confirmed; ignored: not an event about our invoices or payment methods; duplicate: already processed',
    }),
  })
  .meta({ id: 'WebhookReceipt' });

export const webhookContracts = {
  'stripe-webhook': defineContract({
    rawBody: {
      mediaType: 'application/json',
      description: 'The Stripe event exactly as Stripe sent it; verified with the Stripe-Signature header',
    },
    success: { status: 200, description: 'The event was received', schema: WebhookReceiptSchema },
    problems: [400, 413, 503],
  }),
};
