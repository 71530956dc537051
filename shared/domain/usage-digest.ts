import { createHash } from 'node:crypto';

/**
 * The records digest of a usage line (docs/usage-metering.md, "Tracing a line to its records"): an
 * order-independent fingerprint of the idempotency keys counted into it, kept as exact sums in the
 * same transaction that counts the records, so no scan is ever needed to state it.
 *
 * Per record: h = SHA-256 of the idempotency key's bytes (keys are 1-255 of A-Za-z0-9_.:-, so its
 * UTF-8 and ASCII bytes are the same; the key exactly as sent, no case folding or trimming). The
 * record's value is h's first 16 bytes read as a big-endian unsigned 128-bit integer, stored as its
 * two 64-bit halves. The digest is the sum of the values modulo 2^128, as 32 lowercase hex digits.
 * A sum is the same whatever the order or the split of the records over shards and transactions.
 */
export type DigestParts = { high: bigint; low: bigint };

const TWO_64 = 1n << 64n;
const TWO_128 = 1n << 128n;

/** The two 64-bit halves of one record's value (exact, never through a JS number). */
export function recordDigestParts(idempotencyKey: string): DigestParts {
  const h = createHash('sha256').update(idempotencyKey, 'utf8').digest();
  return { high: h.readBigUInt64BE(0), low: h.readBigUInt64BE(8) };
}

/** The halves of many records, each summed exactly (not reduced: the low sum's carry matters). */
export function sumDigestParts(parts: readonly DigestParts[]): DigestParts {
  return parts.reduce((sum, p) => ({ high: sum.high + p.high, low: sum.low + p.low }), {
    high: 0n,
    low: 0n,
  });
}

/** The digest of exact sums of the halves: (high × 2^64 + low) mod 2^128, as 32 hex digits. */
export function digestOf({ high, low }: DigestParts): string {
  const value = (((high * TWO_64 + low) % TWO_128) + TWO_128) % TWO_128;
  return value.toString(16).padStart(32, '0');
}

/** The digest of a list of idempotency keys (what a verifier computes from a listing). */
export const digestOfKeys = (keys: readonly string[]): string =>
  digestOf(sumDigestParts(keys.map(recordDigestParts)));
