import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  digestOf,
  digestOfKeys,
  recordDigestParts,
  sumDigestParts,
} from '../../../shared/domain/usage-digest.ts';
import { statedDigest } from '../../support/stated-digest.ts';

const key = fc.stringMatching(/^[A-Za-z0-9_.:-]{1,40}$/);

describe('the records digest of a usage line', () => {
  it('of one key is the first 16 bytes of its SHA-256; of none, 32 zeros', () => {
    expect(digestOfKeys(['gw-0001'])).toBe(createHash('sha256').update('gw-0001').digest('hex').slice(0, 32));
    expect(digestOfKeys([])).toBe('0'.repeat(32));
  });

  it('is the stated sum for any split of the keys over shards and transactions, in any order', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(key, { maxLength: 300 }),
        fc.array(fc.integer({ min: 0, max: 7 }), { minLength: 300, maxLength: 300 }),
        fc.array(fc.integer({ min: 1, max: 98 }), { minLength: 1, maxLength: 20 }),
        (keys, shardOf, chunkSizes) => {
          // As the store does it: each transaction ADDs its chunk's exact half sums to one shard's
          // counters; a read sums the shards' counters, then reduces.
          const shards = Array.from({ length: 8 }, () => ({ high: 0n, low: 0n }));
          for (let i = 0, c = 0; i < keys.length; c++) {
            const size = chunkSizes[c % chunkSizes.length]!;
            const chunk = keys.slice(i, i + size);
            const shard = shardOf[i]!;
            shards[shard] = sumDigestParts([shards[shard]!, sumDigestParts(chunk.map(recordDigestParts))]);
            i += size;
          }
          const stored = digestOf(sumDigestParts(shards));
          expect(stored).toBe(statedDigest(keys));
          expect(digestOfKeys([...keys].reverse())).toBe(stored);
        },
      ),
    );
  });

  it('changes when one key is left out or another put in its place', () => {
    fc.assert(
      fc.property(fc.uniqueArray(key, { minLength: 2, maxLength: 50 }), (keys) => {
        expect(digestOfKeys(keys.slice(1))).not.toBe(digestOfKeys(keys));
        expect(digestOfKeys([`${keys[0]}x`, ...keys.slice(1)])).not.toBe(digestOfKeys(keys));
      }),
    );
  });

  it('keeps the carry of the low halves: sums past 2^64 and 2^128 wrap exactly once', () => {
    const max = (1n << 64n) - 1n;
    expect(digestOf({ high: 0n, low: max + 1n })).toBe(`${'0'.repeat(15)}1${'0'.repeat(16)}`);
    expect(digestOf({ high: max, low: max + 2n })).toBe(`${'0'.repeat(31)}1`);
  });
});
