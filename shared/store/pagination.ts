import { DomainError } from '../domain/errors.ts';
import { BILLING_TABLE } from './table-definition.ts';

/**
 * Cursors are DynamoDB's LastEvaluatedKey, base64url-encoded. A decoded cursor is only accepted
 * for the partition it was issued for, so a caller cannot steer a query into another partition.
 */
export type Page<T> = { data: T[]; next_cursor: string | null };

export function encodeCursor(lastEvaluatedKey: Record<string, unknown> | undefined): string | null {
  if (!lastEvaluatedKey) return null;
  return Buffer.from(JSON.stringify(lastEvaluatedKey), 'utf8').toString('base64url');
}

export function decodeCursor(
  cursor: string | undefined,
  /** `value`: the partition queried, or the partitions a list walks through (a sharded listing). */
  expected: { attribute: string; value: string | readonly string[]; prefix?: string },
): Record<string, string> | undefined {
  if (cursor === undefined) return undefined;
  const invalid = () =>
    new DomainError('validation', 'cursor: is not a cursor returned by this list', [
      { field: 'cursor', message: 'is not a cursor returned by this list' },
    ]);
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  // DynamoDB throws a ValidationException (a 500 to the caller) for a start key that is not exactly a key
  // of the index queried, with non-empty values and its sort key in the query's range: all checked here.
  const { keys, sortKey } = startKeySchema(expected.attribute);
  if (
    typeof decoded !== 'object' ||
    decoded === null ||
    Array.isArray(decoded) ||
    Object.keys(decoded).length !== keys.length ||
    !keys.every((key) => {
      const value = (decoded as Record<string, unknown>)[key];
      return (
        Object.hasOwn(decoded as object, key) &&
        typeof value === 'string' &&
        value !== '' &&
        Buffer.byteLength(value) <= MAX_KEY_VALUE_BYTES
      );
    }) ||
    ![expected.value].flat().includes((decoded as Record<string, string>)[expected.attribute]!) ||
    !(decoded as Record<string, string>)[sortKey]!.startsWith(expected.prefix ?? '')
  ) {
    throw invalid();
  }
  return decoded as Record<string, string>;
}

/** DynamoDB's limit for a sort key value (partition keys allow 2048 bytes; ours are far shorter). */
const MAX_KEY_VALUE_BYTES = 1024;

/** The attributes of a start key for a query on the partition attribute (table or GSI), and its sort key. */
function startKeySchema(partitionAttribute: string): { keys: string[]; sortKey: string } {
  const table = [BILLING_TABLE.partitionKey, BILLING_TABLE.sortKey];
  if (partitionAttribute === BILLING_TABLE.partitionKey)
    return { keys: table, sortKey: BILLING_TABLE.sortKey };
  const index = BILLING_TABLE.globalSecondaryIndexes.find((gsi) => gsi.partitionKey === partitionAttribute);
  if (!index) throw new Error(`No index of the billing table is partitioned on ${partitionAttribute}`);
  return { keys: [...table, index.partitionKey, index.sortKey], sortKey: index.sortKey };
}
