import { createHash } from 'node:crypto';
import { DomainError } from '../domain/errors.ts';

const KEY_PATTERN = /^[A-Za-z0-9_.:-]{1,255}$/;

/** Validates the Idempotency-Key header value: 1-255 characters of a safe alphabet (UUIDs fit). */
export function parseIdempotencyKey(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (!KEY_PATTERN.test(value)) {
    throw new DomainError(
      'idempotency-key-invalid',
      'Idempotency-Key must be 1-255 characters of letters, digits, _ . : - (a UUID is a good choice)',
      [{ field: 'Idempotency-Key', message: 'must match ^[A-Za-z0-9_.:-]{1,255}$' }],
    );
  }
  return value;
}

/** Same key + same body → same response; the hash ignores key order and whitespace in the JSON. */
export function requestHash(method: string, path: string, body: unknown): string {
  return createHash('sha256')
    .update(`${method} ${path}\n${canonicalJson(body)}`)
    .digest('base64url');
}

export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.keys(value)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
