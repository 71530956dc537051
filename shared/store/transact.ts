import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { TransactWriteCommand, type TransactWriteCommandInput } from '@aws-sdk/lib-dynamodb';
import { dynamo } from './client.ts';

export type TransactItem = NonNullable<TransactWriteCommandInput['TransactItems']>[number];

export type TransactOutcome =
  | { ok: true }
  /** Indexes (into the items passed) whose condition failed. */
  | { ok: false; failedConditions: number[] };

/**
 * Writes all items or none. A failed condition is an expected outcome (duplicate, stale version)
 * and is returned; anything else (throttling after the SDK's retries, validation) is thrown.
 */
export async function transactWrite(
  items: TransactItem[],
  clientRequestToken?: string,
): Promise<TransactOutcome> {
  try {
    await dynamo().send(
      new TransactWriteCommand({
        TransactItems: items,
        ...(clientRequestToken ? { ClientRequestToken: clientRequestToken } : {}),
      }),
    );
    return { ok: true };
  } catch (error) {
    if (error instanceof TransactionCanceledException) {
      const reasons = error.CancellationReasons ?? [];
      const failedConditions = reasons.flatMap((reason, index) =>
        reason.Code === 'ConditionalCheckFailed' ? [index] : [],
      );
      if (failedConditions.length > 0) return { ok: false, failedConditions };
    }
    throw error;
  }
}
