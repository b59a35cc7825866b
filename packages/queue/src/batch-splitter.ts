/**
 * Commits a batch whose write failed for a reason that no retry can fix (a value Postgres refuses)
 * by bisection: each half is written on its own, and a half that fails permanently is split again,
 * down to single events. Every event that can be written is written; only the events that fail
 * alone are returned as refused. With k bad events in n, it costs about 2·k·log2(n) writes, so a
 * batch of 1,000 with one bad event takes ~20 writes instead of 1,000.
 *
 * Each write must be atomic and idempotent (a transaction guarded by an event-id ledger): when a
 * transient error stops the splitting half-way, the error is thrown, the job is retried whole, and
 * the halves that already committed are recognised as duplicates by the ledger.
 */
export interface SplitOutcome<E, R> {
  /** The result of every write that committed, in order. */
  results: R[];
  /** Events that failed permanently on their own, with the error of their single-event write. */
  refused: { event: E; error: unknown }[];
  /** Writes attempted (the first included): the cost of splitting. */
  writes: number;
}

export async function commitSplittingRefused<E, R>(
  events: readonly E[],
  write: (batch: readonly E[]) => Promise<R>,
  isPermanent: (error: unknown) => boolean,
): Promise<SplitOutcome<E, R>> {
  const outcome: SplitOutcome<E, R> = { results: [], refused: [], writes: 0 };
  // Depth-first and in order, so the events commit in their batch order as far as possible.
  const attempt = async (batch: readonly E[]): Promise<void> => {
    if (batch.length === 0) return;
    outcome.writes += 1;
    try {
      outcome.results.push(await write(batch));
    } catch (error) {
      if (!isPermanent(error)) throw error;
      if (batch.length === 1) {
        outcome.refused.push({ event: batch[0]!, error });
        return;
      }
      const middle = batch.length >>> 1;
      await attempt(batch.slice(0, middle));
      await attempt(batch.slice(middle));
    }
  };
  await attempt(events);
  return outcome;
}
