import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { DUE_INDEX_DRAIN_MS, workListForRun } from '../../../shared/use-cases/invoicing/due-work-list.ts';
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

    const workList = await workListForRun('unit', afterDrain);

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

    expect((await workListForRun('unit', afterDrain)).source).toBe('by-type');
    const updates = dynamo.commandCalls(UpdateCommand).map((call) => call.args[0].input);
    expect(updates).toEqual([
      expect.objectContaining({ ExpressionAttributeValues: { ':at': afterDrain.toISOString() } }),
    ]);
  });

  it('reads the full list when the state cannot be read, rather than trust an index it cannot vouch for', async () => {
    dynamo.on(GetCommand).rejects(new Error('store unavailable'));
    expect((await workListForRun('unit', afterDrain)).source).toBe('by-type');
    expect(dynamo.commandCalls(QueryCommand)).toHaveLength(0);
  });

  it('reads the index once the state says it is complete, with no pass', async () => {
    dynamo.on(GetCommand).resolves({ Item: { started_at: STARTED, completed_at: afterDrain.toISOString() } });
    expect((await workListForRun('unit', afterDrain)).source).toBe('due-index');
    expect(dynamo.commandCalls(QueryCommand)).toHaveLength(0);
  });
});
