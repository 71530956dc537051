import { type Invoice, newDraft } from '../../shared/domain/invoice.ts';
import type { Principal } from '../../shared/domain/principal.ts';
import { SCOPES } from '../../shared/http/routes.ts';

export const operator = (overrides: Partial<Principal> = {}): Principal => ({
  kind: 'user',
  subject: 'operator-1',
  scopes: new Set(Object.values(SCOPES)),
  tenantId: undefined,
  ...overrides,
});

export const tenantUser = (tenantId: string, overrides: Partial<Principal> = {}): Principal =>
  operator({ subject: `tenant-user-${tenantId}`, tenantId, ...overrides });

let sequence = 0;

export const customerInput = (
  overrides: Partial<{ name: string; email: string; metadata: Record<string, string> }> = {},
) => {
  sequence++;
  return { name: `Customer ${sequence}`, email: `billing${sequence}@example.com`, ...overrides };
};

/**
 * A finalized, open invoice with no lines, nothing paid and nothing credited, for unit tests of the
 * invoice rules: `overrides` give it the lines, figures and moments a test is about.
 */
export const openInvoiceFixture = (overrides: Partial<Invoice> = {}): Invoice => ({
  // A draft as the domain makes one, then finalized: numbered, open, version 2.
  ...newDraft(
    {
      id: 'in_1',
      customer_id: 'c',
      subscription_id: null,
      billing_reason: 'manual',
      currency: 'USD',
      period_start: '2026-01-01T00:00:00.000Z',
      period_end: '2026-01-01T00:00:00.000Z',
      bills_usage: false,
      next_period_start: null,
      next_period_end: null,
      lines: [],
    },
    new Date('2026-01-01T00:00:00.000Z'),
  ),
  number: 'K7QX2M9P-0001',
  status: 'open',
  finalized_at: '2026-01-01T00:00:00.000Z',
  version: 2,
  ...overrides,
});
