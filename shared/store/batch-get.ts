import { BatchGetCommand, type BatchGetCommandOutput } from '@aws-sdk/lib-dynamodb';
import { dynamo } from './client.ts';

/** BatchGetItem reads at most 100 keys per call. */
export const MAX_BATCH_GET = 100;

/**
 * Every item of `keys` that exists, strongly consistent, in calls of at most 100 keys, asking again
 * for what DynamoDB left unprocessed (throttling) until nothing is left. Order is not kept.
 */
export async function batchGetAll(
  tableName: string,
  keys: readonly Record<string, unknown>[],
  projection?: string,
): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  for (let i = 0; i < keys.length; i += MAX_BATCH_GET) {
    let pending: Record<string, unknown>[] | undefined = keys.slice(i, i + MAX_BATCH_GET);
    for (let round = 0; pending && pending.length > 0; round++) {
      if (round > 0) await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 25 * 2 ** round)));
      const response: BatchGetCommandOutput = await dynamo().send(
        new BatchGetCommand({
          RequestItems: {
            [tableName]: {
              Keys: pending,
              ConsistentRead: true,
              ...(projection ? { ProjectionExpression: projection } : {}),
            },
          },
        }),
      );
      items.push(...(response.Responses?.[tableName] ?? []));
      pending = response.UnprocessedKeys?.[tableName]?.Keys;
    }
  }
  return items;
}
