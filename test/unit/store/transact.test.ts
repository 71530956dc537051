import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { transactWrite } from '../../../shared/store/transact.ts';
import { mockedStore } from '../../support/mocked-store.ts';

const dynamo = mockedStore();

const canceled = (codes: string[]) =>
  new TransactionCanceledException({
    message: 'Transaction cancelled',
    $metadata: {},
    CancellationReasons: codes.map((Code) => ({ Code })),
  });

const put = { Put: { TableName: 'unit', Item: { PK: 'a', SK: 'b' } } };

describe('transactions', () => {
  it('reports which conditions failed', async () => {
    dynamo.on(TransactWriteCommand).rejects(canceled(['None', 'ConditionalCheckFailed']));
    expect(await transactWrite([put, put])).toEqual({ ok: false, failedConditions: [1] });
  });

  it('retries a transaction conflict and succeeds when the other writer is done', async () => {
    dynamo
      .on(TransactWriteCommand)
      .rejectsOnce(canceled(['TransactionConflict']))
      .resolves({});
    expect(await transactWrite([put])).toEqual({ ok: true });
    expect(dynamo.commandCalls(TransactWriteCommand)).toHaveLength(2);
  });

  it('answers a persistent conflict with a 409 to retry, not a 500', async () => {
    dynamo.on(TransactWriteCommand).rejects(canceled(['TransactionConflict']));
    await expect(transactWrite([put])).rejects.toMatchObject({ kind: 'conflict' });
    expect(dynamo.commandCalls(TransactWriteCommand)).toHaveLength(4);
  });

  it('throws anything else unchanged', async () => {
    dynamo.on(TransactWriteCommand).rejects(new Error('ProvisionedThroughputExceeded'));
    await expect(transactWrite([put])).rejects.toThrow('ProvisionedThroughputExceeded');
  });
});

describe('idempotent SDK retries', () => {
  it('sends a fresh ClientRequestToken with every transaction', async () => {
    dynamo.on(TransactWriteCommand).resolves({});
    await transactWrite([put]);
    await transactWrite([put]);
    const tokens = dynamo
      .commandCalls(TransactWriteCommand)
      .map((call) => call.args[0].input.ClientRequestToken);
    expect(tokens).toHaveLength(2);
    expect(tokens[0]).toMatch(/^[0-9a-f-]{36}$/);
    expect(tokens[1]).not.toBe(tokens[0]);
  });
});
