/**
 * The one worker pool: runs `task` for every index in [0, count) with at most `concurrency` in
 * flight, each worker taking the next index as it finishes one. Rejects with the first failure
 * (the other workers stop taking new indexes).
 */
export async function runConcurrently(
  count: number,
  concurrency: number,
  task: (index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async () => {
    for (let index = next++; index < count && !failed; index = next++) {
      try {
        await task(index);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(0, Math.min(concurrency, count)) }, worker));
}
