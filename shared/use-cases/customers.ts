import { randomUUID } from 'node:crypto';
import { type Customer, newCustomer } from '../domain/customer.ts';
import { notFound } from '../domain/errors.ts';
import { type Caller, canAccessCustomer, type Principal, requireOperator } from '../domain/principal.ts';
import { logger } from '../logger.ts';
import { type StripeGateway, StripeUnavailable, stripeGateway } from '../payments/stripe-gateway.ts';
import type { CreateCustomerRequest } from '../schemas/customers.ts';
import { auditBy } from '../store/audit.ts';
import { CustomersRepository } from '../store/customers-repository.ts';
import { IdempotencyKeyTaken, type IdempotentWrite } from '../store/idempotency.ts';
import type { Page } from '../store/pagination.ts';

export async function createCustomer(
  tableName: string,
  input: CreateCustomerRequest,
  caller: Caller,
  idempotency: { record: (body: unknown) => IdempotentWrite } | undefined,
): Promise<Customer> {
  requireOperator(caller.principal, 'create customers');
  const id = randomUUID();
  const customer: Customer = {
    ...newCustomer(input, id, caller.now),
    stripe_customer_id: await mirrorToStripe({ customerId: id, name: input.name, email: input.email }),
  };
  const outcome = await new CustomersRepository(tableName).create(
    customer,
    auditBy(caller, 'customer', customer.id, 'customer.created', null, customer),
    idempotency?.record(customer),
  );
  if (!outcome.created) throw new IdempotencyKeyTaken();
  return customer;
}

/**
 * The Stripe customer mirroring a new one, created before ours is stored so that ours is born
 * linked. Offline (no key) it stays null; if Stripe does not answer, the customer is still created
 * and is linked when it is first charged (stripeCustomerIdOf).
 */
async function mirrorToStripe(input: { customerId: string; name: string; email: string }) {
  try {
    const gateway = await stripeGateway();
    return gateway ? await gateway.ensureCustomer(input) : null;
  } catch (error) {
    if (!(error instanceof StripeUnavailable)) throw error;
    logger.warn('Stripe did not answer; the customer is created unlinked and linked when first charged', {
      customer_id: input.customerId,
      stripe_request_id: error.requestId,
    });
    return null;
  }
}

/** The customer's Stripe id, creating and storing the Stripe customer if it was never mirrored. */
export async function stripeCustomerIdOf(
  tableName: string,
  customerId: string,
  gateway: StripeGateway,
  caller: Caller,
): Promise<string> {
  const repository = new CustomersRepository(tableName);
  const customer = await repository.get(customerId, true);
  if (!customer) throw notFound('Customer', customerId);
  if (customer.stripe_customer_id) return customer.stripe_customer_id;
  const linked: Customer = {
    ...customer,
    stripe_customer_id: await gateway.ensureCustomer({
      customerId,
      name: customer.name,
      email: customer.email,
    }),
    updated_at: caller.now.toISOString(),
    version: customer.version + 1,
  };
  return repository.linkStripeCustomer(
    linked,
    auditBy(caller, 'customer', customerId, 'customer.stripe_linked', customer, linked),
  );
}

/** A tenant asking for another tenant's customer is told it does not exist, not that it is forbidden. */
export async function getCustomer(
  tableName: string,
  customerId: string,
  principal: Principal,
): Promise<Customer> {
  const customer = canAccessCustomer(principal, customerId)
    ? await new CustomersRepository(tableName).get(customerId)
    : undefined;
  if (!customer) throw notFound('Customer', customerId);
  return customer;
}

/** Operators page through every customer; a tenant's list holds only its own customer. */
export async function listCustomers(
  tableName: string,
  query: { limit: number; cursor?: string | undefined },
  principal: Principal,
): Promise<Page<Customer>> {
  const repository = new CustomersRepository(tableName);
  if (principal.tenantId !== undefined) {
    const own = await repository.get(principal.tenantId);
    return { data: own ? [own] : [], next_cursor: null };
  }
  return repository.list(query.limit, query.cursor);
}
