import type { Logger } from '@model-router/logger';
import { type RedisClient as Redis, type RedisKeys, redisKeys, subscribeJson } from '@model-router/redis';
import { z } from 'zod';
import type { SnapshotStore } from './snapshot-store.js';

const noticeSchema = z.object({ model_id: z.string().min(1), until: z.number().int().positive() });

/**
 * KEYS = the model's key; ARGV = until (epoch ms), ttl (ms). Only ever extends a window: a shorter
 * one from a slower replica never cuts a longer one. Sent as EVALSHA (ioredis defineCommand).
 */
const EXTEND_WINDOW = `local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > cur then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
return 0`;

interface ExtendWindow {
  mrExtendRateLimit(key: string, until: string, ttl: string): Promise<number>;
}
type Notice = z.infer<typeof noticeSchema>;

/**
 * Models a provider rate-limited, shared by every replica: a Redis key per model that expires when
 * the window resets (the truth, read at start and on every reconnect) and a notice on a channel
 * (so every replica's snapshot drops the model within milliseconds). Routing — the gateway and
 * /api/v1/route alike — excludes a limited model as `rate_limited` until its window ends, then a
 * local timer lets it back in.
 */
export class RateLimitTracker {
  private readonly limited = new Map<string, number>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private unsubscribe: (() => Promise<void>) | null = null;
  private readonly channel: string;
  private readonly keys: RedisKeys;

  constructor(
    private readonly redis: Redis,
    private readonly subscriber: Redis,
    private readonly snapshots: SnapshotStore,
    keyPrefix: string,
    private readonly logger: Logger,
    private readonly clock: () => number = Date.now,
  ) {
    this.keys = redisKeys(keyPrefix);
    this.channel = this.keys.rateLimitedChannel;
    if (!('mrExtendRateLimit' in redis)) redis.defineCommand('mrExtendRateLimit', { lua: EXTEND_WINDOW, numberOfKeys: 1 });
  }

  private key(modelId: string): string {
    return this.keys.rateLimited(modelId);
  }

  async start(): Promise<void> {
    this.unsubscribe = await subscribeJson(this.subscriber, this.channel, noticeSchema, (notice) => this.apply(notice));
    this.subscriber.on('ready', () => void this.reload());
    await this.reload();
  }

  /** Reads every model's key (a notice sent while this replica was away is not lost). */
  async reload(): Promise<void> {
    try {
      const ids = this.snapshots.current.models.map((m) => m.id);
      if (ids.length === 0) return;
      const values = await this.redis.mget(ids.map((id) => this.key(id)));
      ids.forEach((id, i) => {
        const until = Number(values[i]);
        if (values[i] !== null && Number.isFinite(until)) this.apply({ model_id: id, until });
      });
    } catch (error) {
      this.logger.warn('could not load rate-limited models', { err: error });
    }
  }

  /** Keeps `modelId` out of routing until `until` (epoch ms) on every replica. */
  async limit(modelId: string, until: number): Promise<void> {
    this.apply({ model_id: modelId, until });
    const ttl = Math.max(1, Math.ceil(until - this.clock()));
    await (this.redis as unknown as ExtendWindow).mrExtendRateLimit(this.key(modelId), String(until), String(ttl));
    await this.redis.publish(this.channel, JSON.stringify({ model_id: modelId, until }));
  }

  isLimited(modelId: string): boolean {
    return this.limited.has(modelId);
  }

  private apply(notice: Notice): void {
    const left = notice.until - this.clock();
    const known = this.limited.get(notice.model_id);
    if (left <= 0 || (known !== undefined && known >= notice.until)) return;
    this.limited.set(notice.model_id, notice.until);
    clearTimeout(this.timers.get(notice.model_id));
    const timer = setTimeout(() => {
      this.timers.delete(notice.model_id);
      this.limited.delete(notice.model_id);
      this.publish();
    }, left);
    timer.unref();
    this.timers.set(notice.model_id, timer);
    this.publish();
  }

  private publish(): void {
    this.snapshots.setRateLimited(new Map(this.limited));
  }

  async stop(): Promise<void> {
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    await this.unsubscribe?.().catch(() => undefined);
  }
}
