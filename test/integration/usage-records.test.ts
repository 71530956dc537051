import { UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { config, resetConfigCache } from '../../shared/config.ts';
import { DomainError } from '../../shared/domain/errors.ts';
import type { Invoice } from '../../shared/domain/invoice.ts';
import type { Subscription } from '../../shared/domain/subscription.ts';
import { sumQuantities } from '../../shared/domain/usage.ts';
import { InvoicesRepository } from '../../shared/store/invoices-repository.ts';
import type { Page } from '../../shared/store/pagination.ts';
import type { UsageRecordEntry } from '../../shared/store/usage-repository.ts';
import { createPlan, createPrice, createProduct } from '../../shared/use-cases/catalog.ts';
import { createCustomer } from '../../shared/use-cases/customers.ts';
import { closeDuePeriods } from '../../shared/use-cases/invoicing/close-periods.ts';
import { finalizeInvoice } from '../../shared/use-cases/invoicing/finalize-invoice.ts';
import { createSubscription } from '../../shared/use-cases/subscriptions.ts';
import { ingestUsage } from '../../shared/use-cases/usage.ts';
import { listLineUsageRecords, listSubscriptionUsageRecords } from '../../shared/use-cases/usage-records.ts';
import { customerInput, operator, tenantUser } from '../support/fixtures.ts';
import { statedDigest } from '../support/stated-digest.ts';
import { useTestStore } from '../support/store.ts';

let store: Awaited<ReturnType<typeof useTestStore>>;
const table = () => config().tableName;
const at = (iso: string, principal = operator()) => ({ principal, requestId: 'req', now: new Date(iso) });
const MARCH = '2026-03-01T00:00:00Z';
const USAGE_TIME = '2026-03-20T12:00:00Z';
const CLOSE_TIME = '2026-04-01T00:00:01Z';

beforeAll(async () => {
  store = await useTestStore();
});

/** A subscription from 1 March on a plan with a fee (billed in advance) and two metered prices (calls, tokens). */
async function meteredSubscription(): Promise<Subscription> {
  const product = await createProduct(table(), { name: 'Traced' }, at(MARCH), undefined);
  const plan = await createPlan(
    table(),
    { product_id: product.id, name: 'T', currency: 'USD', interval: 'month', total_budget: 1 },
    at(MARCH),
    undefined,
  );
  await createPrice(table(), { plan_id: plan.id, model: 'flat', unit_amount: 500 }, at(MARCH), undefined);
  for (const [metric, unit] of [
    ['calls', '0.01'],
    ['tokens', '0.001'],
  ] as const) {
    await createPrice(
      table(),
      { plan_id: plan.id, model: 'per_unit', metric, unit_amount_decimal: unit },
      at(MARCH),
      undefined,
    );
  }
  const customer = await createCustomer(table(), customerInput(), at(MARCH), undefined);
  return createSubscription(table(), { customer_id: customer.id, plan_id: plan.id }, at(MARCH), undefined);
}

/** Closes March and finalizes its invoice; the finalized invoice. */
async function closeAndFinalize(subscription: Subscription): Promise<Invoice> {
  await closeDuePeriods(table(), new Date(CLOSE_TIME));
  const { data } = await new InvoicesRepository(table()).listByCustomer(
    subscription.customer_id,
    100,
    undefined,
  );
  const draft = data.find((invoice) => invoice.billing_reason === 'subscription_cycle')!;
  return finalizeInvoice(table(), draft.id, at('2026-04-02T00:00:00Z'));
}

/** Every page of a listing, `limit` at a time, following next_cursor. */
async function everyPage(
  list: (cursor: string | undefined) => Promise<Page<UsageRecordEntry>>,
): Promise<UsageRecordEntry[]> {
  const records: UsageRecordEntry[] = [];
  let cursor: string | undefined;
  do {
    const page = await list(cursor);
    records.push(...page.data);
    cursor = page.next_cursor ?? undefined;
  } while (cursor);
  return records;
}

const lineRecords = (invoice: Invoice, lineId: string, limit = 7) =>
  everyPage((cursor) =>
    listLineUsageRecords(table(), invoice.id, lineId, { limit, cursor }, at('2026-04-03T00:00:00Z')),
  );

const quantityText = fc.oneof(
  fc.integer({ min: 0, max: 100_000 }).map(String),
  fc
    .tuple(fc.integer({ min: 0, max: 999 }), fc.integer({ min: 1, max: 999_999 }))
    .map(([w, f]) => `${w}.${String(f).padStart(6, '0')}`),
);

describe('invoice lines traced to their usage records, against DynamoDB Local', () => {
  it("concurrent batches with racing and retried duplicates: each line's listed records have its count, sum and digest", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.tuple(
            fc.integer({ min: 0, max: 150 }),
            fc.constantFrom('calls', 'tokens'),
            quantityText,
            fc.integer({ min: 0, max: 19 * 86_400 }),
          ),
          { minLength: 1, maxLength: 250 },
        ),
        fc.integer({ min: 1, max: 4 }),
        async (sent, batches) => {
          const subscription = await meteredSubscription();
          // The independent statement: each key counts once, with what it was first sent with.
          const first = new Map<string, { metric: string; quantity: string; timestamp: string }>();
          for (const [n, metric, quantity, second] of sent) {
            const key = `k-${n}`;
            if (!first.has(key))
              first.set(key, {
                metric,
                quantity,
                timestamp: new Date(Date.parse(MARCH) + second * 1000).toISOString(),
              });
          }
          const bodies = sent.map(([n]) => ({
            subscription_id: subscription.id,
            idempotency_key: `k-${n}`,
            ...first.get(`k-${n}`)!,
          }));
          const size = Math.ceil(bodies.length / batches);
          const slices = Array.from({ length: batches }, (_, b) => bodies.slice(b * size, (b + 1) * size));
          const send = (records: readonly unknown[]) =>
            ingestUsage(table(), { records, batch: true }, at(USAGE_TIME));
          // Every slice at once, the first one twice (copies racing each other), then all again (a retry).
          await Promise.all([...slices, slices[0]!].map(send));
          const retried = await send(bodies);
          expect(retried.accepted).toBe(0);

          const invoice = await closeAndFinalize(subscription);
          const usage = invoice.lines.filter((line) => line.kind === 'usage');
          const metrics = [...new Set([...first.values()].map((r) => r.metric))].sort();
          expect(usage.map((line) => line.metric)).toEqual(metrics);
          for (const line of usage) {
            const expected = [...first].filter(([, r]) => r.metric === line.metric);
            const listed = await lineRecords(invoice, line.id);
            expect(line.records).toBe(expected.length);
            expect(line.quantity).toBe(sumQuantities(expected.map(([, r]) => r.quantity)));
            expect(line.records_digest).toBe(statedDigest(expected.map(([key]) => key)));
            expect(listed.map((r) => r.idempotency_key).sort()).toEqual(expected.map(([key]) => key).sort());
            expect(listed).toHaveLength(line.records!);
            expect(sumQuantities(listed.map((r) => r.quantity))).toBe(line.quantity);
            expect(statedDigest(listed.map((r) => r.idempotency_key))).toBe(line.records_digest);
            for (const record of listed) {
              expect(record).toMatchObject({
                metric: line.metric,
                price_id: line.price_id,
                timestamp: first.get(record.idempotency_key)!.timestamp,
              });
            }
          }
        },
      ),
      { numRuns: 6 },
    );
  });

  it('line ids survive finalization and reads of invoices stored before lines had ids', async () => {
    const subscription = await meteredSubscription();
    await ingestUsage(
      table(),
      {
        records: [{ subscription_id: subscription.id, idempotency_key: 'a', metric: 'calls', quantity: 3 }],
        batch: false,
      },
      at(USAGE_TIME),
    );
    await closeDuePeriods(table(), new Date(CLOSE_TIME));
    const repository = new InvoicesRepository(table());
    const draft = (await repository.listByCustomer(subscription.customer_id, 10, undefined)).data.find(
      (invoice) => invoice.billing_reason === 'subscription_cycle',
    )!;
    const finalized = await finalizeInvoice(table(), draft.id, at('2026-04-02T00:00:00Z'));
    expect(finalized.lines.map((line) => line.id)).toEqual(draft.lines.map((line) => line.id));
    expect(new Set(finalized.lines.map((line) => line.id)).size).toBe(finalized.lines.length);

    // As stored before this change: no line ids, no trace fields.
    const usageAt = finalized.lines.findIndex((line) => line.kind === 'usage');
    await store.client.send(
      new UpdateItemCommand({
        TableName: table(),
        Key: { PK: { S: `INVOICE#${finalized.id}` }, SK: { S: 'PROFILE' } },
        UpdateExpression: `REMOVE ${[0, usageAt].flatMap((i) => ['#id', '#records', '#digest', '#kept'].map((name) => `#lines[${i}].${name}`)).join(', ')}`,
        ExpressionAttributeNames: {
          '#lines': 'lines',
          '#id': 'id',
          '#records': 'records',
          '#digest': 'records_digest',
          '#kept': 'records_kept_until',
        },
      }),
    );
    const old = (await repository.get(finalized.id))!;
    expect(old.lines.map((line) => line.id)).toEqual(finalized.lines.map((line) => line.id));
    expect(old.lines[usageAt]).toMatchObject({
      kind: 'usage',
      records: null,
      records_digest: null,
      records_kept_until: null,
    });
    await expect(lineRecords(old, old.lines[usageAt]!.id)).rejects.toMatchObject({ kind: 'gone' });
  });

  it('a counter shard written before digests existed makes the line say null, and its listing 410', async () => {
    const subscription = await meteredSubscription();
    await ingestUsage(
      table(),
      {
        records: [{ subscription_id: subscription.id, idempotency_key: 'old', metric: 'calls', quantity: 1 }],
        batch: false,
      },
      at(USAGE_TIME),
    );
    // As an older version wrote it: the shard has its count but no digest attributes.
    const shard = (await store.allItems()).find(
      (i) => i.item_type === 'usage_aggregate' && i.subscription_id === subscription.id,
    )!;
    await store.client.send(
      new UpdateItemCommand({
        TableName: table(),
        Key: { PK: { S: String(shard.PK) }, SK: { S: String(shard.SK) } },
        UpdateExpression: 'REMOVE digest_high, digest_low, digest_records',
      }),
    );
    // Records counted after the upgrade (onto that shard or others) must not make the digest look whole.
    await ingestUsage(
      table(),
      {
        records: Array.from({ length: 30 }, (_, i) => ({
          subscription_id: subscription.id,
          idempotency_key: `new-${i}`,
          metric: 'calls',
          quantity: 1,
        })),
        batch: true,
      },
      at(USAGE_TIME),
    );
    const invoice = await closeAndFinalize(subscription);
    const line = invoice.lines.find((l) => l.kind === 'usage')!;
    expect(line).toMatchObject({ records: 31, quantity: '31', records_digest: null });
    await expect(lineRecords(invoice, line.id)).rejects.toMatchObject({
      kind: 'gone',
      message: expect.stringContaining('records_digest is null'),
    });
  });

  it('records past their retention answer 410, not a short list', async () => {
    const subscription = await meteredSubscription();
    await ingestUsage(
      table(),
      {
        records: [{ subscription_id: subscription.id, idempotency_key: 'x', metric: 'calls', quantity: 2 }],
        batch: false,
      },
      at(USAGE_TIME),
    );
    const invoice = await closeAndFinalize(subscription);
    const line = invoice.lines.find((l) => l.kind === 'usage')!;
    const list = (iso: string) => listLineUsageRecords(table(), invoice.id, line.id, { limit: 20 }, at(iso));
    const keptUntil = new Date(Date.parse(line.period_end) + 400 * 86_400_000).toISOString();
    expect(line.records_kept_until).toBe(keptUntil);
    expect((await list(new Date(Date.parse(keptUntil) - 1000).toISOString())).data).toHaveLength(1);
    const gone = await list(keptUntil).catch((error: unknown) => error);
    expect(gone).toBeInstanceOf(DomainError);
    expect(gone).toMatchObject({ kind: 'gone', message: expect.stringContaining(keptUntil) });
    // Nothing expires before the default 400 days: the records outlive any dispute window we promise.
    expect(config().usageRecordRetentionDays).toBe(400);
  });

  it('a retention shortened mid-period: the line lists its records only as long as the shortest-kept one lasts', async () => {
    const subscription = await meteredSubscription();
    const send = (key: string) =>
      ingestUsage(
        table(),
        {
          records: [{ subscription_id: subscription.id, idempotency_key: key, metric: 'calls', quantity: 1 }],
          batch: false,
        },
        at(USAGE_TIME),
      );
    await send('kept-long');
    process.env.USAGE_RECORD_RETENTION_DAYS = '90';
    resetConfigCache();
    try {
      await send('kept-90-days');
    } finally {
      delete process.env.USAGE_RECORD_RETENTION_DAYS;
      resetConfigCache();
    }
    const invoice = await closeAndFinalize(subscription);
    const line = invoice.lines.find((l) => l.kind === 'usage')!;
    const ninetyDays = new Date(Date.parse(line.period_end) + 90 * 86_400_000).toISOString();
    expect(line).toMatchObject({ records: 2, records_kept_until: ninetyDays });
    const list = (iso: string) => listLineUsageRecords(table(), invoice.id, line.id, { limit: 20 }, at(iso));
    expect((await list(new Date(Date.parse(ninetyDays) - 1000).toISOString())).data).toHaveLength(2);
    await expect(list(ninetyDays)).rejects.toMatchObject({ kind: 'gone' });
    // The record's own expiry says the same: DynamoDB deletes it then.
    const stored = (await store.allItems()).find(
      (i) => i.item_type === 'usage_record' && i.idempotency_key === 'kept-90-days',
    )!;
    expect(stored.expires_at).toBe(Date.parse(ninetyDays) / 1000);
    // The subscription's listing of that period (?at=) answers the same.
    await expect(
      listSubscriptionUsageRecords(table(), subscription.id, { limit: 5, at: USAGE_TIME }, at(ninetyDays)),
    ).rejects.toMatchObject({ kind: 'gone' });
  });

  it("lists the current period's records of a subscription, by metric, and only to its own tenant", async () => {
    const subscription = await meteredSubscription();
    const records = Array.from({ length: 25 }, (_, i) => ({
      subscription_id: subscription.id,
      idempotency_key: `r-${i}`,
      metric: i % 3 === 0 ? 'tokens' : 'calls',
      quantity: `${i}.5`,
    }));
    await ingestUsage(table(), { records, batch: true }, at(USAGE_TIME));
    const list = (metric: string | undefined, principal = operator()) =>
      everyPage((cursor) =>
        listSubscriptionUsageRecords(
          table(),
          subscription.id,
          { limit: 4, cursor, metric },
          at(USAGE_TIME, principal),
        ),
      );
    expect((await list(undefined)).map((r) => r.idempotency_key).sort()).toEqual(
      records.map((r) => r.idempotency_key).sort(),
    );
    const tokens = await list('tokens');
    expect(tokens.map((r) => r.idempotency_key).sort()).toEqual(
      records
        .filter((r) => r.metric === 'tokens')
        .map((r) => r.idempotency_key)
        .sort(),
    );
    expect(sumQuantities(tokens.map((r) => r.quantity))).toBe(
      sumQuantities(records.filter((r) => r.metric === 'tokens').map((r) => r.quantity)),
    );
    expect(await list(undefined, tenantUser(subscription.customer_id))).toHaveLength(25);
    await expect(list(undefined, tenantUser('someone-else'))).rejects.toMatchObject({ kind: 'not-found' });
    // A cursor of this listing does not steer another subscription's listing.
    const page = await listSubscriptionUsageRecords(table(), subscription.id, { limit: 4 }, at(USAGE_TIME));
    const other = await meteredSubscription();
    await expect(
      listSubscriptionUsageRecords(
        table(),
        other.id,
        { limit: 4, cursor: page.next_cursor! },
        at(USAGE_TIME),
      ),
    ).rejects.toMatchObject({ kind: 'validation' });
  });

  it("a fee line has no records (422) and another tenant's invoice does not exist (404)", async () => {
    const subscription = await meteredSubscription();
    const invoice = await closeAndFinalize(subscription);
    const fee = invoice.lines.find((line) => line.kind === 'subscription_fee')!;
    await expect(lineRecords(invoice, fee.id)).rejects.toMatchObject({ kind: 'unprocessable' });
    await expect(lineRecords(invoice, 'il_nope')).rejects.toMatchObject({ kind: 'not-found' });
    await expect(
      listLineUsageRecords(
        table(),
        invoice.id,
        'il_nope',
        { limit: 5 },
        at('2026-04-03T00:00:00Z', tenantUser('someone-else')),
      ),
    ).rejects.toMatchObject({ kind: 'not-found', message: expect.stringContaining('Invoice') });
  });
});
