import { z } from 'zod';
import { HOSTED_LINK_DAYS } from '../domain/hosted-link.ts';
import { IdPathSchema } from './common.ts';
import { defineContract } from './contract.ts';

/** Invoices as documents: the PDF and the hosted page (docs/invoicing.md, "Invoices as documents"). */

export const CreateHostedLinkRequestSchema = z
  .strictObject({
    expires_in_days: z
      .int('must be a whole number of days')
      .min(HOSTED_LINK_DAYS.min, `must be at least ${HOSTED_LINK_DAYS.min}`)
      .max(HOSTED_LINK_DAYS.max, `must be at most ${HOSTED_LINK_DAYS.max}`)
      .optional()
      .meta({ description: `Days the link works for (default ${HOSTED_LINK_DAYS.default})`, example: 30 }),
  })
  .meta({ id: 'CreateHostedLinkRequest' });

export const HostedLinkSchema = z
  .object({
    id: z.string().meta({ description: 'Names the link in the audit trail (it is not the token)' }),
    invoice_id: z.string(),
    url: z
      .string()
      .meta({ description: 'The hosted invoice page; opens without an API token until expires_at' }),
    pdf_url: z.string().meta({ description: 'The invoice PDF, through the same link' }),
    expires_at: z.string().meta({ description: 'ISO-8601 UTC' }),
  })
  .meta({ id: 'HostedLink' });

const TokenPathSchema = z.strictObject({
  token: z.string().min(1).max(128).meta({ description: 'The token of a hosted invoice link' }),
});

export const invoiceDocumentContracts = {
  'invoices-pdf': defineContract({
    params: IdPathSchema,
    success: {
      status: 200,
      description: 'The invoice as issued, as a PDF (rendered once, then served as stored)',
      mediaType: 'application/pdf',
    },
    problems: [400, 401, 403, 404, 409],
  }),
  'hosted-links-create': defineContract({
    params: IdPathSchema,
    body: CreateHostedLinkRequestSchema,
    success: { status: 201, description: 'A new link to the hosted invoice page', schema: HostedLinkSchema },
    problems: [400, 401, 403, 404, 409, 413, 415],
  }),
  'hosted-links-revoke': defineContract({
    params: IdPathSchema,
    success: {
      status: 200,
      description: 'Every link of the invoice made until now is revoked (links made later work)',
      schema: z
        .object({ invoice_id: z.string(), revoked_at: z.string().meta({ description: 'ISO-8601 UTC' }) })
        .meta({ id: 'HostedLinksRevoked' }),
    },
    problems: [400, 401, 403, 404, 409],
  }),
  'hosted-invoice-page': defineContract({
    params: TokenPathSchema,
    success: {
      status: 200,
      description: 'The hosted invoice page (HTML, no script)',
      mediaType: 'text/html',
    },
    problems: [404, 410],
    problemMediaType: 'text/html',
  }),
  'hosted-invoice-pdf': defineContract({
    params: TokenPathSchema,
    success: {
      status: 200,
      description: 'The invoice PDF, through a hosted link',
      mediaType: 'application/pdf',
    },
    problems: [404, 410],
    problemMediaType: 'text/html',
  }),
};
