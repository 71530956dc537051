import { createHash, randomBytes } from 'node:crypto';
import type { Actor } from './principal.ts';

/**
 * A hosted invoice link (Stripe's hosted_invoice_url): a URL the customer opens without an API token
 * to read one invoice (its page and its PDF). What makes it safe to hand out:
 * - the token is 256 random bits (`hil_` + 43 base64url characters), so it cannot be guessed;
 * - only its SHA-256 is stored, so the table (or a backup of it) cannot be turned back into links;
 * - it expires: `expires_in_days` when it was made, 30 by default, at most 90;
 * - it opens that one invoice and nothing else, read only;
 * - it can be revoked: DELETE /invoices/{id}/hosted-links ends every link of the invoice made until then.
 */
export type HostedLink = {
  /** Names the link in answers and audit entries (from its hash: it tells nothing of the token). */
  id: string;
  invoice_id: string;
  customer_id: string;
  created_at: string;
  /** ISO-8601 UTC; the link answers 410 from then on. */
  expires_at: string;
  created_by: Actor;
};

export const HOSTED_LINK_DAYS = { default: 30, min: 1, max: 90 } as const;

const TOKEN = /^hil_[A-Za-z0-9_-]{43}$/;

export const newHostedLinkToken = (): string => `hil_${randomBytes(32).toString('base64url')}`;

/** Whether `text` has the shape of a link token (anything else is not looked up). */
export const isHostedLinkToken = (text: string): boolean => TOKEN.test(text);

/** What the table keys the link by. */
export const hostedLinkHash = (token: string): string => createHash('sha256').update(token).digest('hex');

export function newHostedLink(
  tokenHash: string,
  invoice: { id: string; customer_id: string },
  expiresInDays: number,
  by: Actor,
  now: Date,
): HostedLink {
  return {
    id: `hl_${tokenHash.slice(0, 24)}`,
    invoice_id: invoice.id,
    customer_id: invoice.customer_id,
    created_at: now.toISOString(),
    expires_at: new Date(now.getTime() + expiresInDays * 86_400_000).toISOString(),
    created_by: by,
  };
}

export const hasExpired = (link: HostedLink, now: Date): boolean => now.toISOString() >= link.expires_at;

/** Whether a revocation of the invoice's links (at `revokedAt`, if any) ended this one. */
export const wasRevoked = (link: HostedLink, revokedAt: string | undefined): boolean =>
  revokedAt !== undefined && link.created_at <= revokedAt;
