import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { PASS_CURSOR_STALE_MS } from '../../../shared/store/due-index-repository.ts';
import { DUE_INDEX_MIGRATION_KEY } from '../../../shared/store/keys.ts';
import {
  DUE_INDEX_CHECK_MS,
  DUE_INDEX_DRAIN_MS,
  workListForRun,
} from '../../../shared/use-cases/invoicing/due-work-list.ts';
import { mockedStore } from '../../support/mocked-store.ts';

const dynamo = mockedStore();

const STARTED = '2026-12-01T00:00:00.000Z';
const afterDrain = new Date(Date.parse(STARTED) + DUE_INDEX_DRAIN_MS);
const migrating = { started_at: STARTED, completed_at: null };
const completed = afterDrain.toISOString();
/** A subscription stored without due keys, as code from before the index wrote it. */
const unindexed = {
  PK: 'SUBSCRIPTION#sub_1',
  SK: 'PROFILE',
  item_type: 'subscription',
  id: 'sub_1',
  status: 'active',
  current_period_end: '2026-12-15T00:00:00.000Z',
  items: [],
  version: 3,
};
const conditionFailed = () => new ConditionalCheckFailedException({ message: 'changed', $metadata: {} });
const BY_TYPE_SUBSCRIPTIONS = { ExpressionAttributeValues: { ':pk': 'TYPE#subscription' } };

/** The state item, and the by-type pages: subscriptions `subscriptions`, no invoice. */
function stored(state: Record<string, unknown>, subscriptions: Record<string, unknown>[] = []) {
  dynamo.on(GetCommand).resolves({ Item: state });
  dynamo.on(QueryCommand).resolves({ Items: [] });
  dynamo.on(QueryCommand, BY_TYPE_SUBSCRIPTIONS).resolves({ Items: subscriptions });
  dynamo.on(UpdateCommand).resolves({});
}

const updates = () => dynamo.commandCalls(UpdateCommand).map((call) => call.args[0].input);
const stateUpdates = () => updates().filter((u) => u.Key?.PK === DUE_INDEX_MIGRATION_KEY.PK);
const RESTART = 'SET completed_at = :none, verified_at = :none, started_at = :at';
const COMPLETE = 'SET completed_at = :at, verified_at = :began';

describe('the due work list while the index fills in', () => {
  it('completes the index after a whole pass past the drain time that fixes nothing, if no run restarted it meanwhile', async () => {
    stored(migrating);
    expect((await workListForRun('unit', afterDrain)).workList.source).toBe('by-type');
    expect(stateUpdates()).toEqual([
      expect.objectContaining({
        UpdateExpression: COMPLETE,
        ConditionExpression:
          'started_at = :started AND (attribute_not_exists(completed_at) OR completed_at = :none)',
        ExpressionAttributeValues: {
          ':at': afterDrain.toISOString(),
          ':began': afterDrain.toISOString(),
          ':started': STARTED,
          ':none': null,
        },
      }),
    ]);
  });

  it('stays on the full list when the completion is refused (another run found a wrong item since)', async () => {
    stored(migrating);
    dynamo.on(UpdateCommand, { UpdateExpression: COMPLETE }).rejects(conditionFailed());
    expect((await workListForRun('unit', afterDrain)).workList.source).toBe('by-type');
    expect(stateUpdates()).toHaveLength(1);
  });

  it('restarts the drain before it fixes an item, and a pass that had to fix one does not complete', async () => {
    stored(migrating, [unindexed]);
    expect((await workListForRun('unit', afterDrain)).workList.source).toBe('by-type');
    expect(updates()).toEqual([
      expect.objectContaining({
        Key: DUE_INDEX_MIGRATION_KEY,
        UpdateExpression: RESTART,
        ConditionExpression: 'started_at < :at',
        ExpressionAttributeValues: { ':at': afterDrain.toISOString(), ':none': null },
      }),
      expect.objectContaining({
        Key: { PK: 'SUBSCRIPTION#sub_1', SK: 'PROFILE' },
        ConditionExpression: 'version = :version',
        ExpressionAttributeValues: {
          ':version': 3,
          ':pk': 'DUE#subscription#active',
          ':sk': '2026-12-15T00:00:00.000Z#sub_1',
        },
      }),
    ]);
  });

  it('does not complete when an item changed under the pass (older code may have written it)', async () => {
    stored(migrating, [unindexed]);
    dynamo.on(UpdateCommand, { Key: { PK: 'SUBSCRIPTION#sub_1', SK: 'PROFILE' } }).rejects(conditionFailed());
    expect((await workListForRun('unit', afterDrain)).workList.source).toBe('by-type');
    expect(stateUpdates().map((u) => u.UpdateExpression)).toEqual([RESTART]);
  });

  it('never moves the drain start back: a later restart already recorded only reopens', async () => {
    stored(migrating, [unindexed]);
    dynamo.on(UpdateCommand, { UpdateExpression: RESTART }).rejects(conditionFailed());
    await workListForRun('unit', afterDrain);
    expect(stateUpdates()).toEqual([
      expect.objectContaining({ UpdateExpression: RESTART }),
      expect.objectContaining({
        UpdateExpression: 'SET completed_at = :none, verified_at = :none',
        ExpressionAttributeValues: { ':none': null },
      }),
    ]);
  });

  it('stops at its time budget with a cursor, and the next run goes on from it', async () => {
    stored(migrating);
    const lastRead = { PK: 'SUBSCRIPTION#sub_1', SK: 'PROFILE', GSI2PK: 'TYPE#subscription', GSI2SK: 'x' };
    dynamo.on(QueryCommand, BY_TYPE_SUBSCRIPTIONS).resolves({ Items: [], LastEvaluatedKey: lastRead });

    expect((await workListForRun('unit', afterDrain, -1)).workList.source).toBe('by-type');
    const cursor = JSON.stringify({ type: 'subscription', after: lastRead });
    expect(stateUpdates()).toEqual([
      expect.objectContaining({
        UpdateExpression: 'SET pass_cursor = :to, pass_began_at = :began, pass_moved_at = :moved',
        ConditionExpression: 'attribute_not_exists(pass_cursor) OR pass_cursor = :none',
        ExpressionAttributeValues: {
          ':to': cursor,
          ':began': afterDrain.toISOString(),
          ':moved': afterDrain.toISOString(),
          ':none': null,
        },
      }),
    ]);
    expect(dynamo.commandCalls(QueryCommand)).toHaveLength(1);

    // The next run, later still, reads on from the cursor to the end: the pass is whole but began at
    // the earlier run, which was not the drain time past the start, so it does not complete.
    dynamo.reset();
    const later = new Date(afterDrain.getTime() + 60_000);
    stored({
      started_at: afterDrain.toISOString(),
      completed_at: null,
      pass_cursor: cursor,
      pass_began_at: afterDrain.toISOString(),
      pass_moved_at: afterDrain.toISOString(),
    });
    expect((await workListForRun('unit', later)).workList.source).toBe('by-type');
    expect(dynamo.commandCalls(QueryCommand)[0]?.args[0].input.ExclusiveStartKey).toEqual(lastRead);
    expect(stateUpdates()).toEqual([
      expect.objectContaining({
        ExpressionAttributeValues: { ':to': null, ':began': null, ':moved': null, ':from': cursor },
        ConditionExpression: 'pass_cursor = :from',
      }),
    ]);
  });

  it('drops a cursor no run has moved for two hours (runs were missed, maybe by a rollback) and starts anew', async () => {
    const cursor = JSON.stringify({ type: 'invoice' });
    const moved = new Date(afterDrain.getTime() - PASS_CURSOR_STALE_MS).toISOString();
    stored({ ...migrating, pass_cursor: cursor, pass_began_at: STARTED, pass_moved_at: moved });
    expect((await workListForRun('unit', afterDrain)).workList.source).toBe('by-type');
    const reads = dynamo.commandCalls(QueryCommand).map((call) => call.args[0].input);
    expect(reads.map((read) => read.ExpressionAttributeValues)).toEqual([
      { ':pk': 'TYPE#subscription' },
      { ':pk': 'TYPE#invoice' },
    ]);
    expect(reads.every((read) => read.ExclusiveStartKey === undefined)).toBe(true);
    // The new pass began with this run, the drain time after the start, and read everything: it
    // clears the stale cursor and completes, verified as of its own start (not the dropped pass's).
    expect(stateUpdates()).toEqual([
      expect.objectContaining({
        ExpressionAttributeValues: { ':to': null, ':began': null, ':moved': null, ':from': cursor },
      }),
      expect.objectContaining({
        UpdateExpression: COMPLETE,
        ExpressionAttributeValues: expect.objectContaining({ ':began': afterDrain.toISOString() }),
      }),
    ]);
  });

  it("a stale cursor dropped by a run out of time is replaced by the new pass's own", async () => {
    const stale = JSON.stringify({ type: 'invoice' });
    const moved = new Date(afterDrain.getTime() - PASS_CURSOR_STALE_MS).toISOString();
    stored({ ...migrating, pass_cursor: stale, pass_began_at: STARTED, pass_moved_at: moved });
    const lastRead = { PK: 'SUBSCRIPTION#sub_9', SK: 'PROFILE', GSI2PK: 'TYPE#subscription', GSI2SK: 'y' };
    dynamo.on(QueryCommand, BY_TYPE_SUBSCRIPTIONS).resolves({ Items: [], LastEvaluatedKey: lastRead });
    expect((await workListForRun('unit', afterDrain, -1)).workList.source).toBe('by-type');
    expect(stateUpdates()).toEqual([
      expect.objectContaining({
        ConditionExpression: 'pass_cursor = :from',
        ExpressionAttributeValues: {
          ':to': JSON.stringify({ type: 'subscription', after: lastRead }),
          ':began': afterDrain.toISOString(),
          ':moved': afterDrain.toISOString(),
          ':from': stale,
        },
      }),
    ]);
  });

  it.each([
    ['the by-type read', QueryCommand],
    ['a fix', UpdateCommand],
  ] as const)(
    'stays on the full list when %s fails with an error that is not a lost race',
    async (_what, command) => {
      stored(migrating, [unindexed]);
      dynamo.on(command as typeof QueryCommand).rejects(new Error('store unavailable'));
      expect((await workListForRun('unit', afterDrain)).workList.source).toBe('by-type');
      expect(stateUpdates().filter((u) => u.UpdateExpression === COMPLETE)).toEqual([]);
    },
  );

  it('reads the full list when the state cannot be read, rather than trust an index it cannot vouch for', async () => {
    dynamo.on(GetCommand).rejects(new Error('store unavailable'));
    expect((await workListForRun('unit', afterDrain)).workList.source).toBe('by-type');
    expect(dynamo.commandCalls(QueryCommand)).toHaveLength(0);
  });
});

describe('the check of the complete due index', () => {
  const checkedState = { started_at: STARTED, completed_at: completed, verified_at: completed };
  const dueForCheck = new Date(afterDrain.getTime() + DUE_INDEX_CHECK_MS);

  it('reads the index with no pass until the check is due', async () => {
    stored(checkedState);
    const before = new Date(dueForCheck.getTime() - 1);
    expect(await workListForRun('unit', before)).toMatchObject({
      workList: { source: 'due-index' },
      repaired: 0,
    });
    expect(dynamo.commandCalls(QueryCommand)).toHaveLength(0);
  });

  it('records the check when a pass finds every item right, unless the index was reopened since', async () => {
    stored(checkedState);
    expect(await workListForRun('unit', dueForCheck)).toMatchObject({
      workList: { source: 'due-index' },
      repaired: 0,
    });
    expect(stateUpdates()).toEqual([
      expect.objectContaining({
        UpdateExpression: 'SET verified_at = :began',
        ConditionExpression: 'started_at = :started AND completed_at = :completed',
        ExpressionAttributeValues: {
          ':began': dueForCheck.toISOString(),
          ':started': STARTED,
          ':completed': completed,
        },
      }),
    ]);
  });

  it('reads by type when the check is refused: a concurrent run reopened the index', async () => {
    stored(checkedState);
    dynamo.on(UpdateCommand, { UpdateExpression: 'SET verified_at = :began' }).rejects(conditionFailed());
    expect(await workListForRun('unit', dueForCheck)).toMatchObject({
      workList: { source: 'by-type' },
      repaired: 0,
    });
  });

  it('reopens the migration before it fixes an item a rollback wrote: this run reads by type', async () => {
    // No verified_at: a state written before checks existed counts from its completion.
    stored({ started_at: STARTED, completed_at: completed }, [unindexed]);
    expect(await workListForRun('unit', dueForCheck)).toMatchObject({
      workList: { source: 'by-type' },
      repaired: 1,
    });
    expect(updates().map((u) => u.UpdateExpression)).toEqual([RESTART, 'SET GSI3PK = :pk, GSI3SK = :sk']);
  });

  it('still reports what it fixed when the check fails after the fix', async () => {
    const second = { ...unindexed, PK: 'SUBSCRIPTION#sub_2', id: 'sub_2' };
    stored(checkedState, [unindexed, second]);
    dynamo
      .on(UpdateCommand, { Key: { PK: 'SUBSCRIPTION#sub_2', SK: 'PROFILE' } })
      .rejects(new Error('throttled'));
    expect(await workListForRun('unit', dueForCheck)).toMatchObject({
      workList: { source: 'by-type' },
      repaired: 1,
    });
    expect(stateUpdates().map((u) => u.UpdateExpression)).toEqual([RESTART]);
  });

  it('goes on with a check under way although the last one is recent, and records it as of its start', async () => {
    const cursor = JSON.stringify({ type: 'invoice' });
    const began = new Date(afterDrain.getTime() - 60 * 60 * 1000).toISOString();
    const moved = new Date(afterDrain.getTime() - 10 * 60 * 1000).toISOString();
    stored({ ...checkedState, pass_cursor: cursor, pass_began_at: began, pass_moved_at: moved });
    expect((await workListForRun('unit', afterDrain)).workList.source).toBe('due-index');
    const reads = dynamo
      .commandCalls(QueryCommand)
      .map((call) => call.args[0].input.ExpressionAttributeValues);
    expect(reads).toEqual([{ ':pk': 'TYPE#invoice' }]);
    expect(stateUpdates().map((u) => [u.UpdateExpression, u.ExpressionAttributeValues?.[':began']])).toEqual([
      ['SET pass_cursor = :to, pass_began_at = :began, pass_moved_at = :moved', null],
      ['SET verified_at = :began', began],
    ]);
  });
});
