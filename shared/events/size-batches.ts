/**
 * Consecutive items in batches of at most `maxCount` items and `maxBytes` bytes (an item larger than
 * the limit alone makes a batch of one), order kept: the one way events are cut to a service's limits.
 */
export function sizeBatches<T>(
  items: readonly T[],
  sizeOf: (item: T) => number,
  limits: { maxBytes: number; maxCount?: number; overheadBytes?: number },
): T[][] {
  const { maxBytes, maxCount = Number.POSITIVE_INFINITY, overheadBytes = 0 } = limits;
  const batches: T[][] = [];
  let current: T[] = [];
  let bytes = overheadBytes;
  for (const item of items) {
    const size = sizeOf(item);
    if (current.length === maxCount || (current.length > 0 && bytes + size > maxBytes)) {
      batches.push(current);
      current = [];
      bytes = overheadBytes;
    }
    current.push(item);
    bytes += size;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}
