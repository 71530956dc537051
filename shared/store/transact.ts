import { randomUUID } from 'node:crypto';
import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { TransactWriteCommand, type TransactWriteCommandInput } from '@aws-sdk/lib-dynamodb';
import { DomainError } from '../domain/errors.ts';
import { dynamo } from './client.ts';

export type TransactItem = NonNullable<TransactWriteCommandInput['TransactItems']>[number];

export type TransactOutcome =
  | { ok: true }
  /** Indexes (into the items passed) whose condition failed. */
  | { ok: false; failedConditions: number[] };

/** Attempts when DynamoDB cancels because another transaction holds one of the items. */
const CONFLICT_ATTEMPTS = 4;

/**
 * Writes all items or none. A failed condition is an expected outcome (duplicate, stale version)
 * and is returned. A TransactionConflict (another transaction was writing one of the items) is
 * retried with jitter, then answered as a 409 to retry; anything else (throttling after the SDK's
 * retries, validation) is thrown.
 */
export async function transactWrite(items: TransactItem[]): Promise<TransactOutcome> {
  for (let attempt = 1; ; attempt++) {
    const outcome = await transactOnce(items);
    if (outcome !== 'transaction-conflict') return outcome;
    if (attempt >= CONFLICT_ATTEMPTS) {
      throw new DomainError(
        'conflict',
        'A concurrent change to the same records is in progress; retry the request',
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 20 * attempt * (0.5 + Math.random())));
  }
}

/**
 * One attempt, reporting a TransactionConflict to the caller instead of retrying it: for writers
 * that can sidestep the contended item (usage picks another counter shard) rather than wait.
 */
export async function transactOnce(items: TransactItem[]): Promise<TransactOutcome | 'transaction-conflict'> {
  try {
    // The token makes the SDK's own retries of this call idempotent: if the first try committed but
    // its answer was lost, the retry is told "done" instead of failing the conditions it just met.
    // (The SDK would generate one too; it is explicit here because correctness depends on it.) Each
    // call gets a fresh token; only the SDK's retries of that same call share it.
    await dynamo().send(
      new TransactWriteCommand({
        TransactItems: items,
        ClientRequestToken: randomUUID(),
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
      if (reasons.some((reason) => reason.Code === 'TransactionConflict')) return 'transaction-conflict';
    }
    throw error;
  }
}
