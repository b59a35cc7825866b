/**
 * commitSplittingRefused against a model of the aggregator's write: an atomic transaction guarded
 * by an event-id ledger, refusing any batch that holds a bad event (permanent), and sometimes
 * failing for no reason of the data (transient: the job is retried whole, as BullMQ would).
 */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { commitSplittingRefused } from '../src/batch-splitter.js';

class DataError extends Error {}
class Outage extends Error {}
const isPermanent = (error: unknown) => error instanceof DataError;

/** The store: a ledger of committed ids and how often each was written. */
class Store {
  readonly ledger = new Set<number>();
  readonly writes = new Map<number, number>();
  transaction(batch: readonly number[], bad: ReadonlySet<number>, outage: () => boolean): { inserted: number } {
    if (outage()) throw new Outage('connection lost');
    if (batch.some((e) => bad.has(e))) throw new DataError('value out of range');
    // Commit: only ids the ledger did not know are written.
    let inserted = 0;
    for (const e of batch) {
      if (this.ledger.has(e)) continue;
      this.ledger.add(e);
      this.writes.set(e, (this.writes.get(e) ?? 0) + 1);
      inserted++;
    }
    return { inserted };
  }
}

describe('commitSplittingRefused', () => {
  it('commits every good event exactly once and refuses exactly the bad ones, through transient failures and retries', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 300 }),
        fc.array(fc.nat(299), { maxLength: 20 }),
        // Which write attempts hit an outage (by their sequence number).
        fc.array(fc.nat(60), { maxLength: 4 }),
        async (size, badIndexes, outageAt) => {
          const events = Array.from({ length: size }, (_, i) => i);
          const bad = new Set(badIndexes.filter((i) => i < size));
          const store = new Store();
          const outages = new Set(outageAt);
          let attempt = 0;
          const outage = () => outages.has(attempt++);
          let refused: number[] = [];
          // The job's attempts: a transient error retries the whole batch.
          for (let tries = 0; ; tries++) {
            expect(tries).toBeLessThan(10);
            try {
              const outcome = await commitSplittingRefused(events, async (batch) => store.transaction(batch, bad, outage), isPermanent);
              refused = outcome.refused.map((r) => r.event);
              for (const r of outcome.refused) expect(r.error).toBeInstanceOf(DataError);
              // Bisection: about 2·k·log2(n) writes, far fewer than one per event when k is small.
              if (bad.size > 0) expect(outcome.writes).toBeLessThanOrEqual(1 + 2 * bad.size * Math.ceil(Math.log2(size) + 1));
              else expect(outcome.writes).toBe(1);
              break;
            } catch (error) {
              expect(error).toBeInstanceOf(Outage);
            }
          }
          expect(refused.sort((x, y) => x - y)).toEqual([...bad].sort((x, y) => x - y));
          for (const e of events) expect(store.writes.get(e) ?? 0).toBe(bad.has(e) ? 0 : 1);
        },
      ),
      { numRuns: 200, seed: 9 },
    );
  });

  it('never splits on a transient error: it is thrown at once', async () => {
    let writes = 0;
    await expect(
      commitSplittingRefused([1, 2, 3, 4], async () => {
        writes++;
        throw new Outage('Postgres is down');
      }, isPermanent),
    ).rejects.toBeInstanceOf(Outage);
    expect(writes).toBe(1);
  });
});
