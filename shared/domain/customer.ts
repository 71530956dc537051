/** A billing customer: the tenant of the SmartGateway (SPEC §4, §5). Pure values, no I/O. */
export type Customer = {
  id: string;
  name: string;
  email: string;
  metadata: Record<string, string>;
  /** Null until the customer is mirrored to Stripe. */
  stripe_customer_id: string | null;
  created_at: string;
  updated_at: string;
  /** Incremented on every change; optimistic concurrency and event ordering use it. */
  version: number;
};

export type NewCustomerInput = { name: string; email: string; metadata?: Record<string, string> | undefined };

export function newCustomer(input: NewCustomerInput, id: string, now: Date): Customer {
  const at = now.toISOString();
  return {
    id,
    name: input.name,
    email: input.email,
    metadata: { ...(input.metadata ?? {}) },
    stripe_customer_id: null,
    created_at: at,
    updated_at: at,
    version: 1,
  };
}
