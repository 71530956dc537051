import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { dynamo } from './client.ts';
import { idempotencyKey, type TableKey } from './keys.ts';
import { type TransactItem, transactWrite } from './transact.ts';

/**
 * Idempotency records make a retried POST return the first response instead of acting twice.
 * The record is written in the same transaction as the change it answers for, so either both
 * exist or neither does: there is no "in progress" state to recover from.
 */
export type StoredResponse = { status: number; body: unknown };

export type IdempotencyRecord = {
  request_hash: string;
  response: StoredResponse;
  created_at: string;
  expires_at: number;
};

/** An idempotent write's claim on its key, plus the response to store with it. */
export type IdempotentWrite = { claim: IdempotencyClaim; response: StoredResponse };

/** Thrown by a use case when its idempotency claim lost a race: the winner's response is replayed. */
export class IdempotencyKeyTaken extends Error {
  constructor() {
    super('Idempotency key claimed concurrently');
  }
}

export type IdempotencyClaim = {
  key: TableKey;
  requestHash: string;
  createdAt: Date;
  ttlSeconds: number;
};

export const idempotencyClaim = (
  principal: string,
  route: string,
  headerKey: string,
  requestHash: string,
  createdAt: Date,
  ttlSeconds: number,
): IdempotencyClaim => ({
  key: idempotencyKey(principal, route, headerKey),
  requestHash,
  createdAt,
  ttlSeconds,
});

export async function findIdempotencyRecord(
  tableName: string,
  claim: IdempotencyClaim,
): Promise<IdempotencyRecord | undefined> {
  const { Item } = await dynamo().send(
    new GetCommand({ TableName: tableName, Key: claim.key, ConsistentRead: true }),
  );
  if (!Item) return undefined;
  // An expired record may linger until DynamoDB's TTL sweep deletes it: treat it as absent.
  if (typeof Item.expires_at === 'number' && Item.expires_at * 1000 < claim.createdAt.getTime())
    return undefined;
  return Item as IdempotencyRecord;
}

/** The Put that claims the key; it fails its condition when the key is already taken. */
export function idempotencyPut(
  tableName: string,
  claim: IdempotencyClaim,
  response: StoredResponse,
): TransactItem {
  const record: IdempotencyRecord = {
    request_hash: claim.requestHash,
    response,
    created_at: claim.createdAt.toISOString(),
    expires_at: Math.floor(claim.createdAt.getTime() / 1000) + claim.ttlSeconds,
  };
  return {
    Put: {
      TableName: tableName,
      Item: { ...claim.key, item_type: 'idempotency', ...record },
      ConditionExpression: 'attribute_not_exists(PK) OR expires_at < :now',
      ExpressionAttributeValues: { ':now': Math.floor(claim.createdAt.getTime() / 1000) },
    },
  };
}

/** What a route hands its use case when the caller sent an Idempotency-Key (undefined otherwise). */
export type Idempotency = { record: (body: unknown) => IdempotentWrite } | undefined;

/**
 * The idempotency record answering with `body`, as items to add to the transaction that makes the
 * change (none without a key): for use cases whose last write is not a repository's create.
 */
export const idempotencyItems = (
  tableName: string,
  idempotency: Idempotency,
  body: unknown,
): TransactItem[] => {
  if (!idempotency) return [];
  const { claim, response } = idempotency.record(body);
  return [idempotencyPut(tableName, claim, response)];
};

/**
 * What names a request sent with an Idempotency-Key (the caller, the route and the key), for a use
 * case that derives the id of what it creates from it, so a retry finds what an earlier try wrote.
 */
export const idempotentRequestName = (idempotency: Idempotency): string | undefined =>
  idempotency?.record(null).claim.key.PK;

/**
 * An answer's idempotency items (idempotencyItems) written on their own, for a use case that answered
 * without making a change (someone else's write already did); a key taken meanwhile is fine.
 */
/**
 * Writes `items` and their idempotency record (`keep`, from idempotencyItems), all or none.
 * `idempotency-key-taken`: a twin request with the same key wrote first (replay its answer);
 * `lost-race`: another condition failed (something read has changed: read again and retry).
 */
export async function transactWithAnswer(
  items: TransactItem[],
  keep: TransactItem[],
): Promise<'written' | 'lost-race' | 'idempotency-key-taken'> {
  const outcome = await transactWrite([...items, ...keep]);
  if (outcome.ok) return 'written';
  return outcome.failedConditions.some((i) => i >= items.length) ? 'idempotency-key-taken' : 'lost-race';
}

export async function keepAnswer(items: TransactItem[]): Promise<void> {
  if (items.length > 0) await transactWrite(items);
}
