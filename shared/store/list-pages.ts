import { QueryCommand, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import { dynamo } from './client.ts';
import { withoutKeys } from './items.ts';
import { byOwnerPartition, byOwnerPrefix, byTypePartition, type TableKey } from './keys.ts';
import { decodeCursor, encodeCursor, type Page } from './pagination.ts';

/** One page of an owner's children of one type (GSI1), oldest first, as API shapes. */
export async function pageByOwner<T>(
  tableName: string,
  owner: TableKey,
  childType: string,
  limit: number,
  cursor: string | undefined,
): Promise<Page<T>> {
  const partition = byOwnerPartition(owner);
  const { Items, LastEvaluatedKey } = await dynamo().send(
    new QueryCommand({
      TableName: tableName,
      IndexName: 'GSI1',
      KeyConditionExpression: 'GSI1PK = :pk AND begins_with(GSI1SK, :prefix)',
      ExpressionAttributeValues: { ':pk': partition, ':prefix': byOwnerPrefix(childType) },
      Limit: limit,
      ExclusiveStartKey: decodeCursor(cursor, {
        attribute: 'GSI1PK',
        value: partition,
        prefix: byOwnerPrefix(childType),
      }),
    }),
  );
  return {
    data: (Items ?? []).map((item) => withoutKeys<T>(item)),
    next_cursor: encodeCursor(LastEvaluatedKey),
  };
}

/** One page of every entity of one type (GSI2), oldest first, optionally filtered on `status`. */
export async function pageByType<T>(
  tableName: string,
  entityType: string,
  limit: number,
  cursor: string | undefined,
  status?: string,
): Promise<Page<T>> {
  const partition = byTypePartition(entityType);
  const { Items, LastEvaluatedKey } = await dynamo().send(
    new QueryCommand({
      TableName: tableName,
      IndexName: 'GSI2',
      KeyConditionExpression: 'GSI2PK = :pk',
      ...(status
        ? { FilterExpression: '#status = :status', ExpressionAttributeNames: { '#status': 'status' } }
        : {}),
      ExpressionAttributeValues: { ':pk': partition, ...(status ? { ':status': status } : {}) },
      Limit: limit,
      ExclusiveStartKey: decodeCursor(cursor, { attribute: 'GSI2PK', value: partition }),
    }),
  );
  return {
    data: (Items ?? []).map((item) => withoutKeys<T>(item)),
    next_cursor: encodeCursor(LastEvaluatedKey),
  };
}

/** Every item a query matches, all pages, as API shapes (for jobs that need the whole set). */
export async function queryAll<T>(query: Omit<QueryCommandInput, 'ExclusiveStartKey'>): Promise<T[]> {
  const items: T[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const page = await dynamo().send(new QueryCommand({ ...query, ExclusiveStartKey: start }));
    items.push(...(page.Items ?? []).map((item) => withoutKeys<T>(item)));
    start = page.LastEvaluatedKey;
  } while (start);
  return items;
}
