import type { KeyRepository } from '@model-router/database';
import type { Logger } from '@model-router/logger';

/**
 * Records which keys were used, for their `last_used_at`, off the hot path: a request only adds
 * the key's id to a set; every `intervalMs` the set is written in one UPDATE. So `last_used_at` is
 * at most one interval late, and a busy key costs one row write per interval, not one per request.
 */
export class KeyUsageRecorder {
  private used = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly keys: KeyRepository,
    private readonly clock: () => number,
    private readonly logger: Logger,
  ) {}

  /** Notes a use of `keyId` (hot path: one Set insertion). */
  noteUse(keyId: string): void {
    this.used.add(keyId);
  }

  start(intervalMs: number): void {
    this.timer = setInterval(() => void this.flush(), intervalMs);
    this.timer.unref();
  }

  /** Writes the uses noted so far; a failed write is retried with the next interval's. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      if (this.used.size === 0) return;
      const ids = [...this.used];
      this.used = new Set();
      try {
        await this.keys.touch(ids, new Date(this.clock()));
      } catch (error) {
        for (const id of ids) this.used.add(id);
        this.logger.warn('could not record when keys were last used', { err: error, keys: ids.length });
      }
    });
    return this.flushing;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.flush();
  }
}
