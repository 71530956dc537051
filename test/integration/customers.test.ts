import { beforeAll, describe, expect, it } from 'vitest';
import { config } from '../../shared/config.ts';
import { DomainError } from '../../shared/domain/errors.ts';
import { IdempotencyKeyTaken, idempotencyClaim } from '../../shared/store/idempotency.ts';
import { createCustomer, getCustomer, listCustomers } from '../../shared/use-cases/customers.ts';
import { customerInput, operator, tenantUser } from '../support/fixtures.ts';
import { useTestStore } from '../support/store.ts';

let store: Awaited<ReturnType<typeof useTestStore>>;
const caller = () => ({ principal: operator(), requestId: 'req-1', now: new Date() });

beforeAll(async () => {
  store = await useTestStore();
});

describe('customers against DynamoDB Local', () => {
  it('creating a customer writes the customer and its audit entry in one transaction', async () => {
    const customer = await createCustomer(config().tableName, customerInput(), caller(), undefined);
    const items = (await store.allItems()).filter((item) => String(item.PK).endsWith(customer.id));
    expect(items.map((item) => item.item_type).sort()).toEqual(['audit', 'customer']);
    const audit = items.find((item) => item.item_type === 'audit')!;
    expect(audit).toMatchObject({
      action: 'customer.created',
      entity_id: customer.id,
      actor: { kind: 'user', subject: 'operator-1', tenant_id: null },
      before: null,
      after: { id: customer.id, email: customer.email },
    });
    expect(await getCustomer(config().tableName, customer.id, operator())).toEqual(customer);
  });

  it('a create whose idempotency key is already taken writes nothing at all', async () => {
    const before = (await store.allItems()).length;
    const claim = idempotencyClaim('operator-1', 'customers-create', 'key-1', 'hash-a', new Date(), 3600);
    const record = (body: unknown) => ({ claim, response: { status: 201, body } });
    await createCustomer(config().tableName, customerInput(), caller(), { record });
    const afterFirst = (await store.allItems()).length;
    expect(afterFirst).toBe(before + 4); // customer, audit, idempotency record, invoice prefix claim

    await expect(
      createCustomer(config().tableName, customerInput(), caller(), { record }),
    ).rejects.toBeInstanceOf(IdempotencyKeyTaken);
    expect((await store.allItems()).length).toBe(afterFirst);
  });

  it('a tenant token cannot create customers', async () => {
    const attempt = createCustomer(
      config().tableName,
      customerInput(),
      { ...caller(), principal: tenantUser('t1') },
      undefined,
    );
    await expect(attempt).rejects.toMatchObject({ kind: 'forbidden' });
  });

  it("a tenant asking for another tenant's customer is told it does not exist", async () => {
    const customer = await createCustomer(config().tableName, customerInput(), caller(), undefined);
    await expect(
      getCustomer(config().tableName, customer.id, tenantUser('someone-else')),
    ).rejects.toMatchObject({
      kind: 'not-found',
    });
    expect((await getCustomer(config().tableName, customer.id, tenantUser(customer.id))).id).toBe(
      customer.id,
    );
  });

  it('listing pages through every customer exactly once, oldest first', async () => {
    const created = [];
    for (let i = 0; i < 7; i++) {
      created.push(await createCustomer(config().tableName, customerInput(), caller(), undefined));
    }
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await listCustomers(config().tableName, { limit: 3, cursor }, operator());
      expect(page.data.length).toBeLessThanOrEqual(3);
      seen.push(...page.data.map((c) => c.id));
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
    expect(new Set(seen).size).toBe(seen.length);
    const createdIds = created.map((c) => c.id);
    expect(seen.filter((id) => createdIds.includes(id))).toEqual(createdIds);
  });

  it("a tenant's list holds only its own customer", async () => {
    const mine = await createCustomer(config().tableName, customerInput(), caller(), undefined);
    const page = await listCustomers(config().tableName, { limit: 100 }, tenantUser(mine.id));
    expect(page).toEqual({ data: [mine], next_cursor: null });
  });

  it('a cursor that points into another partition is refused as a validation error on cursor', async () => {
    const forged = Buffer.from(
      JSON.stringify({ GSI2PK: 'TYPE#invoice', GSI2SK: 'x', PK: 'a', SK: 'b' }),
    ).toString('base64url');
    const attempt = listCustomers(config().tableName, { limit: 5, cursor: forged }, operator());
    await expect(attempt).rejects.toBeInstanceOf(DomainError);
    await expect(attempt).rejects.toMatchObject({ kind: 'validation', fieldErrors: [{ field: 'cursor' }] });
  });
});
