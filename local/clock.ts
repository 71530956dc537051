/**
 * The local runtime's one clock: real time, moved forward (never back) when a period close is
 * simulated (`POST /_local/close-periods?at=`), so what that close creates and every request after
 * it are stamped in order: an invoice is created before it is finalized, due after its period ends,
 * and its audit trail reads oldest first. The local API hands it to the handlers as API Gateway
 * does its own: the request's `requestContext.timeEpoch`.
 */
export type LocalClock = {
  now: () => Date;
  /** Moves the clock to `at` if it is later, and returns the clock's time. */
  advanceTo: (at: Date) => Date;
};

export function localClock(): LocalClock {
  let offsetMs = 0;
  const now = () => new Date(Date.now() + offsetMs);
  return {
    now,
    advanceTo: (at) => {
      offsetMs = Math.max(offsetMs, at.getTime() - Date.now());
      return now();
    },
  };
}
