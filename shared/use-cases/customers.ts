import { randomUUID } from 'node:crypto';
import { type Customer, newCustomer } from '../domain/customer.ts';
import { notFound } from '../domain/errors.ts';
import { actorOf, canAccessCustomer, type Principal, requireOperator } from '../domain/principal.ts';
import type { CreateCustomerRequest } from '../schemas/customers.ts';
import { CustomersRepository } from '../store/customers-repository.ts';
import { IdempotencyKeyTaken, type IdempotentWrite } from '../store/idempotency.ts';
import type { Page } from '../store/pagination.ts';

type Caller = { principal: Principal; requestId: string; now: Date };

export async function createCustomer(
  tableName: string,
  input: CreateCustomerRequest,
  caller: Caller,
  idempotency: { record: (body: unknown) => IdempotentWrite } | undefined,
): Promise<Customer> {
  requireOperator(caller.principal, 'create customers');
  const customer = newCustomer(input, randomUUID(), caller.now);
  const outcome = await new CustomersRepository(tableName).create(
    customer,
    {
      entity_type: 'customer',
      entity_id: customer.id,
      action: 'customer.created',
      actor: actorOf(caller.principal),
      at: customer.created_at,
      request_id: caller.requestId,
      before: null,
      after: customer,
    },
    idempotency?.record(customer),
  );
  if (!outcome.created) throw new IdempotencyKeyTaken();
  return customer;
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
