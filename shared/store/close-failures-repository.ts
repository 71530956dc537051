import { DeleteCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { dynamo } from './client.ts';
import { CLOSE_FAILURE_PARTITION, closeFailureKey } from './keys.ts';

/**
 * Subscriptions the period close could not close (or dun), one item each: the retry marker the
 * close job leaves so a failure is visible and accounted for. The next run retries every due
 * subscription anyway; a marker goes when a close of its subscription succeeds.
 */
export type CloseFailure = {
  subscription_id: string;
  reason: string;
  attempts: number;
  first_failed_at: string;
  last_failed_at: string;
};

export class CloseFailuresRepository {
  constructor(private readonly tableName: string) {}

  async record(subscriptionId: string, reason: string, at: Date): Promise<void> {
    await dynamo().send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: closeFailureKey(subscriptionId),
        UpdateExpression:
          'SET item_type = :type, subscription_id = :id, reason = :reason, last_failed_at = :at, ' +
          'first_failed_at = if_not_exists(first_failed_at, :at) ADD attempts :one',
        ExpressionAttributeValues: {
          ':type': 'close_failure',
          ':id': subscriptionId,
          ':reason': reason.slice(0, 1000),
          ':at': at.toISOString(),
          ':one': 1,
        },
      }),
    );
  }

  async clear(subscriptionId: string): Promise<void> {
    await dynamo().send(
      new DeleteCommand({ TableName: this.tableName, Key: closeFailureKey(subscriptionId) }),
    );
  }

  async list(): Promise<CloseFailure[]> {
    const failures: CloseFailure[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await dynamo().send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'PK = :pk',
          ExpressionAttributeValues: { ':pk': CLOSE_FAILURE_PARTITION },
          ConsistentRead: true,
          ExclusiveStartKey: start,
        }),
      );
      for (const item of page.Items ?? []) {
        const { PK: _pk, SK: _sk, item_type: _type, ...failure } = item;
        failures.push(failure as CloseFailure);
      }
      start = page.LastEvaluatedKey;
    } while (start);
    return failures;
  }
}
