import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson, parseIdempotencyKey, requestHash } from '../../../shared/http/idempotency.ts';

describe('idempotency request fingerprint', () => {
  it('the same body with keys in any order hashes the same', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue()), (object) => {
        const reversed = Object.fromEntries(Object.entries(object).reverse());
        expect(requestHash('POST', '/x', reversed)).toBe(requestHash('POST', '/x', object));
        expect(JSON.parse(canonicalJson(object))).toEqual(JSON.parse(JSON.stringify(object)));
      }),
    );
  });

  it('a different body, path or method hashes differently', () => {
    expect(requestHash('POST', '/x', { a: 1 })).not.toBe(requestHash('POST', '/x', { a: 2 }));
    expect(requestHash('POST', '/x', { a: 1 })).not.toBe(requestHash('POST', '/y', { a: 1 }));
    expect(requestHash('POST', '/x', { a: 1 })).not.toBe(requestHash('PUT', '/x', { a: 1 }));
  });

  it('accepts UUIDs and refuses empty, overlong or odd keys naming the header', () => {
    expect(parseIdempotencyKey('3f1c2b9e-8a55-4a0e-9d4b-5f8f0b1d7c21')).toBe(
      '3f1c2b9e-8a55-4a0e-9d4b-5f8f0b1d7c21',
    );
    expect(parseIdempotencyKey(undefined)).toBeUndefined();
    for (const bad of ['', 'a'.repeat(256), 'has space', 'slash/y']) {
      expect(() => parseIdempotencyKey(bad)).toThrowError(/Idempotency-Key/);
    }
  });
});
