import type { AbTestRollupsReader, StoredAbTest } from '@model-router/database';
import { murmurHash3Utf8, nanosToUsd, seededRandom, topTwoThompsonProbabilities } from '@model-router/domain';
import { updateEveryMs } from './abtest.schema.js';

interface Allocation {
  /** floor(now / update_every): the batch these probabilities belong to. */
  batch: number;
  probabilities: number[];
}

/**
 * The current assignment probabilities of each thompson_sampling test, recomputed once per
 * `bandit.update_every` from the variant rollups (batched posterior updates: between two updates
 * every replica assigns with the same probabilities, and routing never waits on a query more than
 * once per batch). The Monte Carlo of top-two Thompson sampling is seeded with (test id, batch), so
 * replicas that read the same rollups compute the same probabilities.
 */
export class BanditAllocations {
  private readonly current = new Map<string, Allocation>();
  private readonly pending = new Map<string, Promise<Allocation>>();

  constructor(
    private readonly events: Pick<AbTestRollupsReader, 'abTestVariantRollups'>,
    private readonly clock: () => number = Date.now,
  ) {}

  /** The probabilities of `test`'s variants (in order), fresh for the current batch. */
  async probabilities(test: StoredAbTest): Promise<number[]> {
    const bandit = test.bandit;
    if (!bandit) return test.variants.map((v) => v.weight);
    const batch = Math.floor(this.clock() / updateEveryMs(bandit.update_every));
    const known = this.current.get(test.id);
    if (known && known.batch === batch && known.probabilities.length === test.variants.length) return known.probabilities;
    const key = `${test.id}\u0000${batch}`;
    let running = this.pending.get(key);
    if (!running) {
      running = this.compute(test, batch).finally(() => this.pending.delete(key));
      this.pending.set(key, running);
    }
    try {
      return (await running).probabilities;
    } catch {
      // Postgres unreachable: routing goes on with the last allocation (or the configured weights),
      // and the next request of the batch tries the update again.
      return known && known.probabilities.length === test.variants.length ? known.probabilities : test.variants.map((v) => v.weight);
    }
  }

  private async compute(test: StoredAbTest, batch: number): Promise<Allocation> {
    const bandit = test.bandit!;
    const rollups = new Map((await this.events.abTestVariantRollups(test.id)).map((r) => [r.variant_id, r]));
    const arms = test.variants.map((v) => {
      const r = rollups.get(v.id);
      return {
        requests: r?.request_count ?? 0,
        successes: r?.success_count ?? 0,
        cost_sum: nanosToUsd(r?.cost_nanos_sum ?? 0),
        cost_sum_sq: (r?.cost_nanos_sum_sq ?? 0) / 1e18,
      };
    });
    const random = seededRandom(murmurHash3Utf8(`${test.id}:${batch}`));
    const probabilities = topTwoThompsonProbabilities(
      arms,
      { metric: bandit.metric, min_share: bandit.min_share, top_two_beta: bandit.top_two_beta },
      random,
    );
    const allocation = { batch, probabilities };
    const known = this.current.get(test.id);
    if (!known || known.batch <= batch) this.current.set(test.id, allocation);
    return allocation;
  }

  /** Forget a test (completed or deleted). */
  forget(testId: string): void {
    this.current.delete(testId);
  }
}
