import { DomainError } from '../domain/errors.ts';

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
  expected: { attribute: string; value: string },
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
  if (
    typeof decoded !== 'object' ||
    decoded === null ||
    Array.isArray(decoded) ||
    !Object.values(decoded).every((value) => typeof value === 'string') ||
    (decoded as Record<string, string>)[expected.attribute] !== expected.value
  ) {
    throw invalid();
  }
  return decoded as Record<string, string>;
}
