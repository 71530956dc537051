import { createHash } from 'node:crypto';

/**
 * A usage line's records digest as docs/usage-metering.md states it, written from the text and not
 * from shared/domain/usage-digest.ts: the first 32 hex digits of each idempotency key's SHA-256, read
 * as a number, summed mod 2^128, as 32 hex digits.
 */
export function statedDigest(keys: Iterable<string>): string {
  let sum = 0n;
  for (const key of keys) sum += BigInt(`0x${createHash('sha256').update(key).digest('hex').slice(0, 32)}`);
  return (sum % 2n ** 128n).toString(16).padStart(32, '0');
}
