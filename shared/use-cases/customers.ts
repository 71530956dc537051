import { randomUUID } from 'node:crypto';
import { type CreditBalances, type Customer, newCustomer, randomInvoicePrefix } from '../domain/customer.ts';
import { DomainError, notFound } from '../domain/errors.ts';
import { type Caller, canAccessCustomer, type Principal, requireOperator } from '../domain/principal.ts';
import { logger } from '../logger.ts';
import { type StripeGateway, StripeUnavailable, stripeGateway } from '../payments/stripe-gateway.ts';
import type { CreateCustomerRequest, UpdateCustomerRequest } from '../schemas/customers.ts';
import { auditBy } from '../store/audit.ts';
import { CustomersRepository, PREFIX_DRAWS } from '../store/customers-repository.ts';
import { IdempotencyKeyTaken, type IdempotentWrite } from '../store/idempotency.ts';
import type { Page } from '../store/pagination.ts';
import { changingConcurrently, LOST_RACE, retryOnLostRace } from './optimistic.ts';
import { checkedTaxRateIds } from './tax-rates.ts';

export async function createCustomer(
  tableName: string,
  input: CreateCustomerRequest,
  caller: Caller,
  idempotency: { record: (body: unknown) => IdempotentWrite } | undefined,
  /** Tests force collisions here; every customer gets a prefix no other customer holds. */
  drawPrefix: () => string = randomInvoicePrefix,
): Promise<CustomerView> {
  requireOperator(caller.principal, 'create customers');
  const id = randomUUID();
  const taxRateIds = await checkedTaxRateIds(tableName, input.tax_rate_ids ?? [], 'tax_rate_ids');
  const born: Customer = {
    ...newCustomer({ ...input, tax_rate_ids: taxRateIds }, id, caller.now),
    stripe_customer_id: await mirrorToStripe({ customerId: id, name: input.name, email: input.email }),
  };
  const repository = new CustomersRepository(tableName);
  for (let draw = 1; draw <= PREFIX_DRAWS; draw++) {
    const customer = { ...born, invoice_prefix: drawPrefix() };
    const view: CustomerView = { ...customer, credit_balance: {} };
    const outcome = await repository.create(
      customer,
      auditBy(caller, 'customer', customer.id, 'customer.created', null, customer),
      idempotency?.record(view),
    );
    if (outcome.created) return view;
    if (outcome.reason === 'idempotency-key-taken') throw new IdempotencyKeyTaken();
  }
  throw new Error(`No free invoice prefix after ${PREFIX_DRAWS} draws`);
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
): Promise<CustomerView> {
  if (!canAccessCustomer(principal, customerId)) throw notFound('Customer', customerId);
  const repository = new CustomersRepository(tableName);
  const [customer, credit_balance] = await Promise.all([
    repository.get(customerId),
    repository.creditBalances(customerId),
  ]);
  if (!customer) throw notFound('Customer', customerId);
  return { ...customer, credit_balance };
}

/**
 * Changes what a customer's next finalized invoices are taxed at (operators only). With If-Match the
 * change applies only to that version; without it, to the latest one.
 */
export async function updateCustomer(
  tableName: string,
  customerId: string,
  input: UpdateCustomerRequest,
  ifMatchVersion: number | undefined,
  caller: Caller,
): Promise<CustomerView> {
  requireOperator(caller.principal, 'change customers');
  const taxRateIds = await checkedTaxRateIds(tableName, input.tax_rate_ids, 'tax_rate_ids');
  const repository = new CustomersRepository(tableName);
  const changed = await retryOnLostRace(
    5,
    async () => {
      const before = await repository.get(customerId, true);
      if (!before) throw notFound('Customer', customerId);
      if (ifMatchVersion !== undefined && before.version !== ifMatchVersion)
        throw new DomainError(
          'version-conflict',
          `Customer ${customerId} is at version ${before.version}, not ${ifMatchVersion}; GET it again and re-apply your change`,
        );
      if (sameIds(before.tax_rate_ids, taxRateIds)) return before;
      const after: Customer = {
        ...before,
        tax_rate_ids: taxRateIds,
        updated_at: caller.now.toISOString(),
        version: before.version + 1,
      };
      const written = await repository.updateTaxRates(
        before,
        after,
        auditBy(caller, 'customer', customerId, 'customer.tax_rates_changed', before, after),
      );
      return written ? after : LOST_RACE;
    },
    () => {
      throw changingConcurrently(`Customer ${customerId}`);
    },
  );
  return { ...changed, credit_balance: await repository.creditBalances(customerId) };
}

const sameIds = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && a.every((id, i) => id === b[i]);

/** A customer as GET /customers/{id} shows it: with its credit balance per currency. */
export type CustomerView = Customer & { credit_balance: CreditBalances };

/** Operators page through every customer; a tenant's list holds only its own customer. */
export async function listCustomers(
  tableName: string,
  query: { limit: number; cursor?: string | undefined },
  principal: Principal,
): Promise<Page<Customer>> {
  const repository = new CustomersRepository(tableName);
  if (principal.tenantId !== undefined) {
    const own = await getCustomer(tableName, principal.tenantId, principal).catch((error: unknown) => {
      if (error instanceof DomainError && error.kind === 'not-found') return undefined;
      throw error;
    });
    return { data: own ? [own] : [], next_cursor: null };
  }
  return repository.list(query.limit, query.cursor);
}
