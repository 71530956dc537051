import { DomainError } from '../domain/errors.ts';

/** What a read-modify-write step returns when its conditional write found a newer version. */
export const LOST_RACE: unique symbol = Symbol('lost race');

/**
 * The one optimistic read-modify-write loop: `step` reads what it needs, decides, and writes
 * conditionally on the version it read. It returns its result, or LOST_RACE when another writer got
 * there first; then it runs again on a fresh read, at most `attempts` times in all, after which
 * `exhausted` answers (usually by throwing a 409 that tells the caller to retry).
 */
export async function retryOnLostRace<T>(
  attempts: number,
  step: (attempt: number) => Promise<T | typeof LOST_RACE>,
  exhausted: () => T | Promise<T>,
): Promise<T> {
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const result = await step(attempt);
    if (result !== LOST_RACE) return result;
  }
  return exhausted();
}

/** The 409 for an entity that kept changing under a writer that has no version of its own to insist on. */
export const changingConcurrently = (entity: string, hint = 'retry'): DomainError =>
  new DomainError('conflict', `${entity} is being changed concurrently; ${hint}`);
