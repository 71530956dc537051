import { ExecuteStatementCommand } from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import { selectFromPartitions } from '../../../shared/store/partiql.ts';
import { mockedStore } from '../../support/mocked-store.ts';

const dynamo = mockedStore('raw');

const item = (sk: string) => ({ PK: { S: 'P#0' }, SK: { S: sk } });

describe('selectFromPartitions (failure paths)', () => {
  it('follows NextToken to the last page, sending the same statement each time', async () => {
    dynamo
      .on(ExecuteStatementCommand)
      .resolvesOnce({ Items: [item('a')], NextToken: 't1' })
      .resolvesOnce({ Items: [], NextToken: 't2' })
      .resolves({ Items: [item('b')] });
    const items = await selectFromPartitions('unit', ['P#0', 'P#1'], 'x#');
    expect(items.map((i) => i.SK!.S)).toEqual(['a', 'b']);
    const calls = dynamo.commandCalls(ExecuteStatementCommand).map((c) => c.args[0].input);
    expect(calls.map((c) => c.NextToken)).toEqual([undefined, 't1', 't2']);
    expect(new Set(calls.map((c) => c.Statement)).size).toBe(1);
    expect(calls.every((c) => c.ConsistentRead === true)).toBe(true);
    expect(calls[0]!.Parameters).toEqual([{ S: 'P#0' }, { S: 'P#1' }, { S: 'x#' }]);
  });

  it('fails rather than return part of the items when a page stops at a key it cannot resume from', async () => {
    dynamo.on(ExecuteStatementCommand).resolves({ Items: [item('a')], LastEvaluatedKey: item('a') });
    await expect(selectFromPartitions('unit', ['P#0'], 'x#')).rejects.toThrow(/LastEvaluatedKey/);
  });
});
