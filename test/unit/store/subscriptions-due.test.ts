import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { SubscriptionsRepository } from '../../../shared/store/subscriptions-repository.ts';
import { mockedStore } from '../../support/mocked-store.ts';

const dynamo = mockedStore();

const due = (status: string, version: number) => ({
  PK: 'SUBSCRIPTION#sub_1',
  SK: 'PROFILE',
  id: 'sub_1',
  status,
  version,
  current_period_end: '2026-12-01T00:00:00.000Z',
});

describe('the due list', () => {
  it('holds a subscription seen in two status partitions (the index moving it) once, at its newest version', async () => {
    dynamo.on(QueryCommand).resolves({ Items: [] });
    dynamo
      .on(QueryCommand, { ExpressionAttributeValues: { ':pk': 'DUE#subscription#past_due' } })
      .resolves({ Items: [due('past_due', 7)] });
    dynamo
      .on(QueryCommand, { ExpressionAttributeValues: { ':pk': 'DUE#subscription#active' } })
      .resolves({ Items: [due('active', 8)] });

    const list = await new SubscriptionsRepository('unit').listDue(new Date('2026-12-02T00:00:00Z'));

    expect(list).toEqual([expect.objectContaining({ id: 'sub_1', status: 'active', version: 8 })]);
    expect(dynamo.commandCalls(QueryCommand).length).toBeGreaterThanOrEqual(3);
  });
});
