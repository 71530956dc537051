import { describe, expect, it } from 'vitest';
import { DomainError } from '../../../shared/domain/errors.ts';
import { decodeCursor, encodeCursor } from '../../../shared/store/pagination.ts';

const cursorOf = (key: unknown) => Buffer.from(JSON.stringify(key)).toString('base64url');

const refused = (cursor: string, expected: Parameters<typeof decodeCursor>[1]) => {
  try {
    decodeCursor(cursor, expected);
  } catch (error) {
    expect(error).toBeInstanceOf(DomainError);
    expect((error as DomainError).fieldErrors).toEqual([{ field: 'cursor', message: expect.any(String) }]);
    return true;
  }
  return false;
};

describe('a cursor is accepted only if DynamoDB would accept it as the start key', () => {
  // Found by the fuzz: an edited cursor on GET /audit/subscription/{id} answered 500
  // (DynamoDB: "The provided starting key does not match the range key predicate").
  const audit = { attribute: 'PK', value: 'SUBSCRIPTION#s1', prefix: 'AUDIT#' };
  const byType = { attribute: 'GSI2PK', value: 'TYPE#customer' };
  const gsi2Key = {
    PK: 'CUSTOMER#c1',
    SK: 'PROFILE',
    GSI2PK: 'TYPE#customer',
    GSI2SK: '2026-01-01T00:00:00Z#c1',
  };

  it('round-trips the keys DynamoDB issues', () => {
    const auditKey = { PK: 'SUBSCRIPTION#s1', SK: 'AUDIT#2026-01-01T00:00:00Z#a1' };
    expect(decodeCursor(encodeCursor(auditKey)!, audit)).toEqual(auditKey);
    expect(decodeCursor(encodeCursor(gsi2Key)!, byType)).toEqual(gsi2Key);
  });

  it('refuses a sort key outside the range the query reads', () => {
    expect(refused(cursorOf({ PK: 'SUBSCRIPTION#s1', SK: 'PROFILE' }), audit)).toBe(true);
    expect(
      refused(cursorOf({ GSI1PK: 'PLAN#p', GSI1SK: 'PLAN#x', PK: 'x', SK: 'y' }), {
        attribute: 'GSI1PK',
        value: 'PLAN#p',
        prefix: 'PRICE#',
      }),
    ).toBe(true);
  });

  it('refuses missing, extra, empty, oversized or non-string key attributes', () => {
    const { GSI2SK: _dropped, ...missing } = gsi2Key;
    for (const key of [
      missing,
      { ...gsi2Key, GSI1PK: 'x' },
      { ...gsi2Key, SK: '' },
      { ...gsi2Key, GSI2SK: 'a'.repeat(1025) },
      { ...gsi2Key, PK: 7 },
      JSON.parse(`{"__proto__":"x",${JSON.stringify(gsi2Key).slice(1)}`),
    ]) {
      expect(refused(cursorOf(key), byType)).toBe(true);
    }
    expect(refused(cursorOf({ PK: 'SUBSCRIPTION#s1' }), audit)).toBe(true);
  });

  it('still refuses another partition and garbage', () => {
    expect(refused(cursorOf({ ...gsi2Key, GSI2PK: 'TYPE#invoice' }), byType)).toBe(true);
    for (const garbage of ['', '%', 'e30', cursorOf(null), cursorOf([gsi2Key]), cursorOf('x')]) {
      expect(refused(garbage, byType)).toBe(true);
    }
  });
});
