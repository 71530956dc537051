import { QueryCommand, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import { dynamo } from './client.ts';
import { withoutKeys } from './items.ts';
import { byOwnerPartition, byOwnerPrefix, byTypePartition, type TableKey } from './keys.ts';
import { decodeCursor, encodeCursor, type Page } from './pagination.ts';

/** One page of an owner's children of one type (GSI1), oldest first, optionally only in `status`. */
export function pageByOwner<T>(
  tableName: string,
  owner: TableKey,
  childType: string,
  limit: number,
  cursor: string | undefined,
  status?: string,
): Promise<Page<T>> {
  const partition = byOwnerPartition(owner);
  return queryPage<T>(
    {
      TableName: tableName,
      IndexName: 'GSI1',
      KeyConditionExpression: 'GSI1PK = :pk AND begins_with(GSI1SK, :prefix)',
      ExpressionAttributeValues: { ':pk': partition, ':prefix': byOwnerPrefix(childType) },
      ExclusiveStartKey: decodeCursor(cursor, {
        attribute: 'GSI1PK',
        value: partition,
        prefix: byOwnerPrefix(childType),
      }),
    },
    ['GSI1PK', 'GSI1SK'],
    limit,
    status,
  );
}

/** One page of every entity of one type (GSI2), oldest first, optionally only in `status`. */
export function pageByType<T>(
  tableName: string,
  entityType: string,
  limit: number,
  cursor: string | undefined,
  status?: string,
): Promise<Page<T>> {
  const partition = byTypePartition(entityType);
  return queryPage<T>(
    {
      TableName: tableName,
      IndexName: 'GSI2',
      KeyConditionExpression: 'GSI2PK = :pk',
      ExpressionAttributeValues: { ':pk': partition },
      ExclusiveStartKey: decodeCursor(cursor, { attribute: 'GSI2PK', value: partition }),
    },
    ['GSI2PK', 'GSI2SK'],
    limit,
    status,
  );
}

/**
 * A page of `limit` items. Without a filter it is one query. With a status filter, DynamoDB applies
 * `Limit` before the filter, so one query could return few matches (or none) while more exist: the
 * query goes on from where it stopped until the page is full or the index is exhausted, and the
 * cursor is the key of the last item returned, so the next page starts right after it.
 */
async function queryPage<T>(
  query: QueryCommandInput,
  indexKeys: [string, string],
  limit: number,
  status: string | undefined,
): Promise<Page<T>> {
  const filter = status
    ? {
        FilterExpression: '#status = :status',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: { ...query.ExpressionAttributeValues, ':status': status },
      }
    : {};
  const items: Record<string, unknown>[] = [];
  let start = query.ExclusiveStartKey;
  let more = false;
  do {
    const page = await dynamo().send(
      new QueryCommand({ ...query, ...filter, Limit: limit - items.length, ExclusiveStartKey: start }),
    );
    items.push(...(page.Items ?? []));
    start = page.LastEvaluatedKey;
    more = start !== undefined;
  } while (more && items.length < limit);
  const last = items[items.length - 1];
  const next =
    more && last ? Object.fromEntries(['PK', 'SK', ...indexKeys].map((key) => [key, last[key]])) : undefined;
  return { data: items.map((item) => withoutKeys<T>(item)), next_cursor: encodeCursor(next) };
}

/** Every item a query matches, all pages, as API shapes (for jobs that need the whole set). */
export async function queryAll<T>(query: Omit<QueryCommandInput, 'ExclusiveStartKey'>): Promise<T[]> {
  const items: T[] = [];
  for await (const page of queryPages(query)) {
    items.push(...page.items.map((item) => withoutKeys<T>(item)));
  }
  return items;
}

/**
 * The stored items a query matches, keys and all, one page at a time from `ExclusiveStartKey` (for
 * jobs over large sets); each page says where the next one starts (undefined after the last).
 */
export async function* queryPages(
  query: QueryCommandInput,
): AsyncGenerator<{ items: Record<string, unknown>[]; next: Record<string, unknown> | undefined }> {
  let start = query.ExclusiveStartKey;
  do {
    const page = await dynamo().send(new QueryCommand({ ...query, ExclusiveStartKey: start }));
    start = page.LastEvaluatedKey;
    yield { items: page.Items ?? [], next: start };
  } while (start);
}
