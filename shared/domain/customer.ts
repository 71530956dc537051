import { randomInt } from 'node:crypto';

/** A billing customer: the tenant of the SmartGateway (SPEC §4, §5). Pure values, no I/O. */
export type Customer = {
  id: string;
  name: string;
  email: string;
  metadata: Record<string, string>;
  /** Null until the customer is mirrored to Stripe. */
  stripe_customer_id: string | null;
  /**
   * Starts every invoice number of this customer (`<prefix>-0001`): taken once, uniquely in the
   * stage, when the customer is created (or, for customers older than prefixes, at its first
   * finalization). Unrelated to the id, so customers whose ids share leading characters never clash.
   */
  invoice_prefix: string | null;
  /**
   * The tax rates every line of its invoices is taxed at (all inclusive or all exclusive), unless
   * its subscription sets its own; applied when an invoice is finalized (docs/invoicing.md, "Tax").
   */
  tax_rate_ids: string[];
  created_at: string;
  updated_at: string;
  /** Incremented on every change; optimistic concurrency and event ordering use it. */
  version: number;
};

export type NewCustomerInput = {
  name: string;
  email: string;
  metadata?: Record<string, string> | undefined;
  tax_rate_ids?: string[] | undefined;
};

export function newCustomer(input: NewCustomerInput, id: string, now: Date): Customer {
  const at = now.toISOString();
  return {
    id,
    name: input.name,
    email: input.email,
    metadata: { ...(input.metadata ?? {}) },
    stripe_customer_id: null,
    invoice_prefix: null,
    tax_rate_ids: [...(input.tax_rate_ids ?? [])],
    created_at: at,
    updated_at: at,
    version: 1,
  };
}

/** Letters and digits that cannot be mistaken for each other when read aloud or on paper. */
const PREFIX_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';
export const INVOICE_PREFIX_LENGTH = 8;

/** A random invoice prefix (32^8 ≈ 10^12 of them); the store makes sure no two customers hold one. */
export function randomInvoicePrefix(): string {
  let prefix = '';
  for (let i = 0; i < INVOICE_PREFIX_LENGTH; i++)
    prefix += PREFIX_ALPHABET[randomInt(PREFIX_ALPHABET.length)];
  return prefix;
}

/** What a customer holds in credit (minor units per currency), shown on GET /customers/{id}. */
export type CreditBalances = Record<string, number>;
