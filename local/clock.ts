import { readFileSync } from 'node:fs';
import { writeFileAtomic } from './atomic-file.ts';

/**
 * The local runtime's one clock: real time, moved forward (never back) when a period close is
 * simulated (`POST /_local/close-periods?days=` or `?at=`), so what that close creates and every
 * request after it are stamped in order: an invoice is created before it is finalized, due after its
 * period ends, and its audit trail reads oldest first. The local API hands it to the handlers as API
 * Gateway does its own: the request's `requestContext.timeEpoch`. With a data folder, how far it is
 * ahead is kept there too, so a restart never takes the stored data back in time.
 */
export type LocalClock = {
  now: () => Date;
  /** Moves the clock to `at` if it is later, and returns the clock's time. */
  advanceTo: (at: Date) => Date;
};

type Saved = { offset_ms: number };

export function localClock(file?: string): LocalClock {
  let offsetMs = file ? readOffset(file) : 0;
  const now = () => new Date(Date.now() + offsetMs);
  return {
    now,
    advanceTo: (at) => {
      const offset = Math.max(offsetMs, at.getTime() - Date.now());
      if (offset !== offsetMs && file) {
        // A kill mid-write never leaves it half written.
        writeFileAtomic(file, JSON.stringify({ offset_ms: offset } satisfies Saved));
      }
      offsetMs = offset;
      return now();
    },
  };
}

function readOffset(file: string): number {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return 0; // No simulated close yet: real time.
  }
  const offset = (JSON.parse(text) as Partial<Saved>).offset_ms;
  if (typeof offset !== 'number' || !Number.isFinite(offset)) {
    throw new Error(`${file} does not hold the local clock; delete it to go back to real time`);
  }
  return offset;
}
