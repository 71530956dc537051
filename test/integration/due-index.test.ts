import { randomUUID } from 'node:crypto';
import {
  BatchWriteItemCommand,
  CreateTableCommand,
  DescribeTableCommand,
  GetItemCommand,
} from '@aws-sdk/client-dynamodb';
import { DeleteCommand, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { itemsReadBy } from '../../bench/store-calls.ts';
import { ensureTables, startDynamoDbLocal, tableInput } from '../../local/dynamodb-local.ts';
import { config } from '../../shared/config.ts';
import type { Invoice } from '../../shared/domain/invoice.ts';
import type { Subscription } from '../../shared/domain/subscription.ts';
import { dynamo } from '../../shared/store/client.ts';
import {
  completeDueIndexState,
  DueIndexRepository,
  dueIndexStateItem,
  newBackfillRun,
} from '../../shared/store/due-index-repository.ts';
import { InvoicesRepository, invoiceStoreItem } from '../../shared/store/invoices-repository.ts';
import { DUE_INDEX_MIGRATION_KEY, subscriptionKey } from '../../shared/store/keys.ts';
import {
  SubscriptionsRepository,
  subscriptionStoreItem,
} from '../../shared/store/subscriptions-repository.ts';
import { BILLING_TABLE } from '../../shared/store/table-definition.ts';
import { closeDuePeriods } from '../../shared/use-cases/invoicing/close-periods.ts';
import { DUE_INDEX_CHECK_MS, DUE_INDEX_DRAIN_MS } from '../../shared/use-cases/invoicing/due-work-list.ts';
import { planWithPrices, subscribedCustomer } from '../support/catalog-setup.ts';
import { operator } from '../support/fixtures.ts';
import { useTestStore } from '../support/store.ts';

const table = () => config().tableName;
const SUBSCRIBED_AT = '2026-03-01T00:00:00.000Z';
const caller = { principal: operator(), requestId: 'req', now: new Date(SUBSCRIBED_AT) };
const RUNS = Number(process.env.DUE_INDEX_RUNS ?? 8);

/** A real subscription (created by the use case) to vary: a template for stored subscriptions. */
let template: Subscription;

beforeAll(async () => {
  store = await useTestStore();
  const { plan } = await planWithPrices(table(), caller, [{ model: 'flat', unit_amount: 1500 }]);
  template = await subscribedCustomer(table(), caller, [plan.id]);
});

const STATUSES = ['trialing', 'active', 'past_due', 'canceled'] as const;
const moment = fc
  .integer({ min: Date.parse('2026-01-01T00:00:00Z'), max: Date.parse('2026-12-31T00:00:00Z') })
  .map((ms) => new Date(ms).toISOString());
/** A moment, or (often enough to matter) exactly the close's `now`: `end == now` is due. */
const NOW = 'now';
const momentOrNow = fc.oneof(moment, fc.constant(NOW));
const at = (value: string, nowIso: string) => (value === NOW ? nowIso : value);
const storedSubscription = fc.record({ status: fc.constantFrom(...STATUSES), end: momentOrNow });
const storedInvoice = fc.record({
  status: fc.constantFrom('draft', 'open', 'paid', 'void', 'uncollectible'),
  due: fc.option(momentOrNow, { nil: null }),
  amountDue: fc.constantFrom(0, 1, 4900),
});

let store: Awaited<ReturnType<typeof useTestStore>>;

async function writeAll(items: Record<string, unknown>[]) {
  for (let i = 0; i < items.length; i += 25)
    await store.client.send(
      new BatchWriteItemCommand({
        RequestItems: {
          [table()]: items.slice(i, i + 25).map((item) => ({ PutRequest: { Item: marshall(item) } })),
        },
      }),
    );
}

const subscriptionLike = (status: Subscription['status'], end: string): Subscription => ({
  ...template,
  id: `sub_${randomUUID()}`,
  status,
  current_period_end: end,
});

const ids = (items: { id: string }[]) => items.map((item) => item.id).sort();

describe('the sparse due index', () => {
  it('lists exactly the subscriptions and invoices a filter over all of them finds, and reads only those', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(storedSubscription, { maxLength: 30 }),
        fc.array(storedInvoice, { maxLength: 30 }),
        moment,
        async (subscriptionSpecs, invoiceSpecs, nowIso) => {
          store = await useTestStore();
          const now = new Date(nowIso);
          const subscriptions = subscriptionSpecs.map((s) => subscriptionLike(s.status, at(s.end, nowIso)));
          const invoices = invoiceSpecs.map(
            (spec): Invoice =>
              ({
                id: `in_${randomUUID()}`,
                customer_id: template.customer_id,
                subscription_id: template.id,
                status: spec.status,
                due_date: spec.due === null ? null : at(spec.due, nowIso),
                amount_due: spec.amountDue,
                created_at: SUBSCRIBED_AT,
                period_end: SUBSCRIBED_AT,
                version: 1,
              }) as Invoice,
          );
          await writeAll([...subscriptions.map(subscriptionStoreItem), ...invoices.map(invoiceStoreItem)]);

          // The model, from the rules: closed when not canceled and the period has ended; dunned
          // when open with something due and past its due date.
          const dueModel = subscriptions.filter(
            (s) => s.status !== 'canceled' && s.current_period_end <= nowIso,
          );
          const pastDueModel = subscriptions.filter((s) => s.status === 'past_due');
          const overdueModel = invoices.filter(
            (i) => i.status === 'open' && i.amount_due > 0 && i.due_date !== null && i.due_date <= nowIso,
          );

          const repository = new SubscriptionsRepository(table());
          const due = await itemsReadBy(() => repository.listDue(now));
          expect(ids(due.result)).toEqual(ids(dueModel));
          expect(due.read).toBe(dueModel.length);
          expect(ids(await repository.listDueByType(now))).toEqual(ids(dueModel));
          expect(ids(await repository.listPastDue())).toEqual(ids(pastDueModel));
          const overdue = await itemsReadBy(() => new InvoicesRepository(table()).listOverdue(now));
          expect(ids(overdue.result)).toEqual(ids(overdueModel));
          expect(overdue.read).toBe(overdueModel.length);
          expect(ids(await new InvoicesRepository(table()).listOverdueByType(now))).toEqual(
            ids(overdueModel),
          );
        },
      ),
      { numRuns: RUNS },
    );
  }, 120_000);
});

/** What code from before the due index left: items without due keys, and no migration state. */
async function asWrittenBeforeTheIndex() {
  await withoutDueKeys(() => true);
  await dynamo().send(new DeleteCommand({ TableName: table(), Key: DUE_INDEX_MIGRATION_KEY }));
}

/** Removes the due keys of the items `which` picks, as code from before the index would write them. */
async function withoutDueKeys(which: (item: Record<string, unknown>) => boolean) {
  for (const item of await store.allItems()) {
    if (item.GSI3PK === undefined || !which(item)) continue;
    await dynamo().send(
      new UpdateCommand({
        TableName: table(),
        Key: { PK: item.PK, SK: item.SK },
        UpdateExpression: 'REMOVE GSI3PK, GSI3SK',
      }),
    );
  }
}

const stored = async (id: string) =>
  (await dynamo().send(new GetCommand({ TableName: table(), Key: subscriptionKey(id) }))).Item ?? {};

describe('filling in the due index for items written before it', () => {
  it('closes from every subscription until a pass an hour after the first finds all right, then from the index', async () => {
    store = await useTestStore();
    const { plan } = await planWithPrices(table(), caller, [{ model: 'flat', unit_amount: 1500 }]);
    const endsInMarch = await subscribedCustomer(table(), caller, [plan.id]);
    const later = { ...caller, now: new Date('2026-03-20T00:00:00.000Z') };
    const endsInApril = await subscribedCustomer(table(), later, [plan.id]);
    await asWrittenBeforeTheIndex();
    expect(
      (await new SubscriptionsRepository(table()).listDue(new Date('2026-12-31T00:00:00Z'))).length,
    ).toBe(0);

    const closing = new Date('2026-04-01T00:00:01.000Z');
    const firstPass = new Date('2026-12-02T10:00:00.000Z');
    const first = await closeDuePeriods(table(), closing, undefined, firstPass);
    // Every subscription filtered: the one due is closed although the index did not hold it.
    expect(first).toMatchObject({ work_list: 'by-type', subscriptions: 1, invoices_created: 1 });
    // The pass gave the one not due its keys (the close's own write gave the other its new ones).
    expect(await stored(endsInApril.id)).toMatchObject({
      GSI3PK: 'DUE#subscription#active',
      GSI3SK: `2026-04-20T00:00:00.000Z#${endsInApril.id}`,
    });
    expect(await stored(endsInMarch.id)).toMatchObject({
      GSI3SK: `2026-05-01T00:00:00.000Z#${endsInMarch.id}`,
    });
    const migration = new DueIndexRepository(table());
    expect(await migration.state()).toMatchObject({
      started_at: firstPass.toISOString(),
      completed_at: null,
      verified_at: null,
    });

    // Too soon after the first pass: code from before the index could still have been writing.
    const soon = new Date(firstPass.getTime() + DUE_INDEX_DRAIN_MS - 1);
    expect((await closeDuePeriods(table(), closing, undefined, soon)).work_list).toBe('by-type');
    expect((await migration.state())?.completed_at).toBeNull();

    const drained = new Date(firstPass.getTime() + DUE_INDEX_DRAIN_MS);
    expect((await closeDuePeriods(table(), closing, undefined, drained)).work_list).toBe('by-type');
    expect(await migration.state()).toEqual({
      started_at: firstPass.toISOString(),
      completed_at: drained.toISOString(),
      verified_at: drained.toISOString(),
      pass_began_at: null,
      pass_cursor: null,
      pass_moved_at: null,
    });

    // From the index now, and the index has both: at the end of April both periods are due.
    const endOfApril = new Date('2026-05-01T00:00:01.000Z');
    const fromIndex = await closeDuePeriods(table(), endOfApril, undefined, drained);
    expect(fromIndex).toMatchObject({
      work_list: 'due-index',
      due_index_repaired: 0,
      subscriptions: 2,
      invoices_created: 2,
    });
  });

  it('a rollback that writes without due keys after completion is found by the daily check, which reopens the fill-in', async () => {
    store = await useTestStore();
    const { plan } = await planWithPrices(table(), caller, [{ model: 'flat', unit_amount: 1500 }]);
    const subscription = await subscribedCustomer(table(), caller, [plan.id]);
    const completedAt = new Date('2026-12-02T10:00:00.000Z');
    const migration = new DueIndexRepository(table());
    const at = completedAt.toISOString();
    await dynamo().send(
      new PutCommand({ TableName: table(), Item: dueIndexStateItem(completeDueIndexState(at)) }),
    );
    // Code from before the index rewrote the subscription after the index was complete.
    await withoutDueKeys((item) => item.id === subscription.id);
    const endOfMarch = new Date('2026-04-01T00:00:01.000Z');

    // Within a day of the last check the index is trusted, and misses it: its close is late, not wrong.
    const sameDay = new Date(completedAt.getTime() + DUE_INDEX_CHECK_MS - 1);
    expect(await closeDuePeriods(table(), endOfMarch, undefined, sameDay)).toMatchObject({
      work_list: 'due-index',
      subscriptions: 0,
    });

    const nextDay = new Date(completedAt.getTime() + DUE_INDEX_CHECK_MS);
    expect(await closeDuePeriods(table(), endOfMarch, undefined, nextDay)).toMatchObject({
      work_list: 'by-type',
      due_index_repaired: 1,
      subscriptions: 1,
      invoices_created: 1,
    });
    expect(await migration.state()).toMatchObject({
      started_at: nextDay.toISOString(),
      completed_at: null,
      verified_at: null,
    });
    // The drain counts again from the check that found it.
    const drained = new Date(nextDay.getTime() + DUE_INDEX_DRAIN_MS);
    expect((await closeDuePeriods(table(), endOfMarch, undefined, drained)).work_list).toBe('by-type');
    expect((await migration.state())?.completed_at).toBe(drained.toISOString());
  });

  it('a pass cut short by its budget leaves a cursor in the store, and later runs go on from it to the end', async () => {
    store = await useTestStore();
    const { plan } = await planWithPrices(table(), caller, [{ model: 'flat', unit_amount: 1500 }]);
    const subscriptions = [];
    for (let i = 0; i < 5; i++) subscriptions.push(await subscribedCustomer(table(), caller, [plan.id]));
    await asWrittenBeforeTheIndex();
    const migration = new DueIndexRepository(table(), 2);
    const began = new Date('2026-12-02T10:00:00.000Z');
    let state = await migration.begin(began);
    const parts = [];
    for (let run = 0; run < 10; run++) {
      const part = newBackfillRun();
      // Out of time at once: each run reads one page of 2, then leaves the cursor.
      await migration.backfill(state, new Date(began.getTime() + run * 60_000), -1, part);
      parts.push(part);
      state = (await migration.state())!;
      if (part.finished) break;
    }
    // 5 subscriptions in pages of 2, then their invoices in pages of 2: every run part of one pass.
    const invoices = (await store.allItems()).filter((item) => item.item_type === 'invoice').length;
    expect(invoices).toBe(5);
    expect(parts.map((part) => [part.checked, part.finished])).toEqual([
      [2, false],
      [2, false],
      [1, false],
      [2, false],
      [2, false],
      [1, true],
    ]);
    expect(new Set(parts.map((part) => part.began_at))).toEqual(new Set([began.toISOString()]));
    expect(state).toMatchObject({ pass_cursor: null, pass_began_at: null });
    for (const subscription of subscriptions) {
      expect(await stored(subscription.id)).toMatchObject({ GSI3PK: 'DUE#subscription#active' });
    }
  });

  it('local mode adds the index to a table from an earlier version, and marks a new table complete', async () => {
    // A store of its own: DynamoDB Local leaves a new index CREATING for good once it holds dozens of
    // tables, as the store every test file shares does (npm start's holds three).
    const own = await startDynamoDbLocal({});
    try {
      const withoutDueIndex = {
        ...BILLING_TABLE,
        globalSecondaryIndexes: BILLING_TABLE.globalSecondaryIndexes.filter((i) => i.indexName !== 'GSI3'),
      };
      await own.client.send(new CreateTableCommand(tableInput('billing-older', withoutDueIndex, true)));
      const older = { billing: 'billing-older', budgets: 'budgets-older', routingPolicies: 'routing-older' };
      await ensureTables(own.client, older);
      const { Table } = await own.client.send(new DescribeTableCommand({ TableName: older.billing }));
      expect(Table?.GlobalSecondaryIndexes?.map((i) => [i.IndexName, i.IndexStatus]).sort()).toEqual([
        ['GSI1', 'ACTIVE'],
        ['GSI2', 'ACTIVE'],
        ['GSI3', 'ACTIVE'],
      ]);
      expect(Table?.StreamSpecification?.StreamEnabled).toBe(true);
      const stateOf = async (tableName: string) =>
        (
          await own.client.send(
            new GetItemCommand({ TableName: tableName, Key: marshall(DUE_INDEX_MIGRATION_KEY) }),
          )
        ).Item;
      // Its items may lack due keys: the close fills them in before it trusts the index.
      expect(await stateOf(older.billing)).toBeUndefined();
      await ensureTables(own.client, older); // again: nothing to add
      expect(await stateOf(older.billing)).toBeUndefined();

      const fresh = { billing: 'billing-fresh', budgets: 'budgets-fresh', routingPolicies: 'routing-fresh' };
      await ensureTables(own.client, fresh);
      expect(await stateOf(fresh.billing)).toMatchObject({ completed_at: { S: expect.any(String) } });
    } finally {
      await own.stop();
    }
  }, 60_000);
});
