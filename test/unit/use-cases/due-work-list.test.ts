import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import {
  DUE_INDEX_CHECK_MS,
  DUE_INDEX_DRAIN_MS,
  workListForRun,
} from '../../../shared/use-cases/invoicing/due-work-list.ts';
import { mockedStore } from '../../support/mocked-store.ts';

const dynamo = mockedStore();

const STARTED = '2026-12-01T00:00:00.000Z';
const afterDrain = new Date(Date.parse(STARTED) + DUE_INDEX_DRAIN_MS);
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

describe('the due work list while the index fills in', () => {
  it('does not complete the index when an item changed under the pass, and stays on the full list', async () => {
    dynamo.on(GetCommand).resolves({ Item: { started_at: STARTED, completed_at: null } });
    dynamo.on(QueryCommand).resolves({ Items: [] });
    dynamo.on(QueryCommand, { ExpressionAttributeValues: { ':pk': 'TYPE#subscription' } }).resolves({
      Items: [unindexed],
    });
    dynamo.on(UpdateCommand).rejects(conditionFailed());

    const { workList } = await workListForRun('unit', afterDrain);

    expect(workList.source).toBe('by-type');
    const updates = dynamo.commandCalls(UpdateCommand).map((call) => call.args[0].input);
    // The one fix tried, only at the version read; no `completed_at` written.
    expect(updates).toHaveLength(1);
    expect(updates[0]).toMatchObject({
      Key: { PK: 'SUBSCRIPTION#sub_1', SK: 'PROFILE' },
      ConditionExpression: 'version = :version',
      ExpressionAttributeValues: {
        ':version': 3,
        ':pk': 'DUE#subscription#active',
        ':sk': '2026-12-15T00:00:00.000Z#sub_1',
      },
    });
  });

  it('completes the index after a clean pass past the drain time', async () => {
    dynamo.on(GetCommand).resolves({ Item: { started_at: STARTED, completed_at: null } });
    dynamo.on(QueryCommand).resolves({ Items: [] });
    dynamo.on(UpdateCommand).resolves({});

    expect((await workListForRun('unit', afterDrain)).workList.source).toBe('by-type');
    const updates = dynamo.commandCalls(UpdateCommand).map((call) => call.args[0].input);
    expect(updates).toEqual([
      expect.objectContaining({
        UpdateExpression: 'SET completed_at = :at, verified_at = :at',
        ExpressionAttributeValues: { ':at': afterDrain.toISOString() },
      }),
    ]);
  });

  it('does not complete after a pass past the drain time that had to fix an item: the drain counts again from it', async () => {
    dynamo.on(GetCommand).resolves({ Item: { started_at: STARTED, completed_at: null } });
    dynamo.on(QueryCommand).resolves({ Items: [] });
    dynamo.on(QueryCommand, { ExpressionAttributeValues: { ':pk': 'TYPE#subscription' } }).resolves({
      Items: [unindexed],
    });
    dynamo.on(UpdateCommand).resolves({});

    expect((await workListForRun('unit', afterDrain)).workList.source).toBe('by-type');
    const updates = dynamo.commandCalls(UpdateCommand).map((call) => call.args[0].input);
    expect(updates).toHaveLength(2);
    expect(updates[1]).toMatchObject({
      Key: { PK: 'MIGRATION#due-index', SK: 'STATE' },
      UpdateExpression: 'SET started_at = :at, completed_at = :none, verified_at = :none',
      ExpressionAttributeValues: { ':at': afterDrain.toISOString(), ':none': null },
    });
  });

  it('does not complete after a pass that stopped at its time budget, though it found nothing to fix', async () => {
    dynamo.on(GetCommand).resolves({ Item: { started_at: STARTED, completed_at: null } });
    dynamo.on(QueryCommand).resolves({ Items: [] });
    dynamo.on(UpdateCommand).resolves({});

    expect((await workListForRun('unit', afterDrain, -1)).workList.source).toBe('by-type');
    expect(dynamo.commandCalls(UpdateCommand)).toHaveLength(0);
  });

  it.each([
    ['the by-type read', QueryCommand],
    ['a fix', UpdateCommand],
  ] as const)(
    'stays on the full list when %s fails with an error that is not a lost race',
    async (_what, command) => {
      dynamo.on(GetCommand).resolves({ Item: { started_at: STARTED, completed_at: null } });
      dynamo.on(QueryCommand).resolves({ Items: [] });
      dynamo.on(QueryCommand, { ExpressionAttributeValues: { ':pk': 'TYPE#subscription' } }).resolves({
        Items: [unindexed],
      });
      dynamo.on(UpdateCommand).resolves({});
      dynamo.on(command as typeof QueryCommand).rejects(new Error('store unavailable'));

      expect((await workListForRun('unit', afterDrain)).workList.source).toBe('by-type');
      const completions = dynamo
        .commandCalls(UpdateCommand)
        .filter((call) => String(call.args[0].input.UpdateExpression).includes('completed_at = :at'));
      expect(completions).toHaveLength(0);
    },
  );

  it('reads the full list when the state cannot be read, rather than trust an index it cannot vouch for', async () => {
    dynamo.on(GetCommand).rejects(new Error('store unavailable'));
    expect((await workListForRun('unit', afterDrain)).workList.source).toBe('by-type');
    expect(dynamo.commandCalls(QueryCommand)).toHaveLength(0);
  });

  it('reads the index once the state says it is complete, with no pass within a day of the last check', async () => {
    const checked = afterDrain.toISOString();
    dynamo
      .on(GetCommand)
      .resolves({ Item: { started_at: STARTED, completed_at: checked, verified_at: checked } });
    const dayLater = new Date(afterDrain.getTime() + DUE_INDEX_CHECK_MS - 1);
    expect(await workListForRun('unit', dayLater)).toMatchObject({
      workList: { source: 'due-index' },
      repaired: 0,
    });
    expect(dynamo.commandCalls(QueryCommand)).toHaveLength(0);
  });
});

describe('the daily check of the complete due index', () => {
  const checked = afterDrain.toISOString();
  const dayLater = new Date(afterDrain.getTime() + DUE_INDEX_CHECK_MS);

  it('records the check when a pass finds every item right, and keeps reading the index', async () => {
    dynamo
      .on(GetCommand)
      .resolves({ Item: { started_at: STARTED, completed_at: checked, verified_at: checked } });
    dynamo.on(QueryCommand).resolves({ Items: [] });
    dynamo.on(UpdateCommand).resolves({});

    expect(await workListForRun('unit', dayLater)).toMatchObject({
      workList: { source: 'due-index' },
      repaired: 0,
    });
    expect(dynamo.commandCalls(UpdateCommand).map((call) => call.args[0].input)).toEqual([
      expect.objectContaining({
        UpdateExpression: 'SET verified_at = :at',
        ExpressionAttributeValues: { ':at': dayLater.toISOString() },
      }),
    ]);
  });

  it('reopens the migration when the pass had to fix an item (a rollback wrote it): this run reads by type', async () => {
    // No verified_at: a state written before the check existed counts from its completion.
    dynamo.on(GetCommand).resolves({ Item: { started_at: STARTED, completed_at: checked } });
    dynamo.on(QueryCommand).resolves({ Items: [] });
    dynamo.on(QueryCommand, { ExpressionAttributeValues: { ':pk': 'TYPE#subscription' } }).resolves({
      Items: [unindexed],
    });
    dynamo.on(UpdateCommand).resolves({});

    expect(await workListForRun('unit', dayLater)).toMatchObject({
      workList: { source: 'by-type' },
      repaired: 1,
    });
    const updates = dynamo.commandCalls(UpdateCommand).map((call) => call.args[0].input);
    expect(updates.map((update) => update.UpdateExpression)).toEqual([
      'SET GSI3PK = :pk, GSI3SK = :sk',
      'SET started_at = :at, completed_at = :none, verified_at = :none',
    ]);
  });
});
