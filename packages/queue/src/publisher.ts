import { performance } from 'node:perf_hooks';
import { Queue } from 'bullmq';
import type { Cluster, Redis } from 'ioredis';
import { type EventInputOf, type EventName, JOB_CATALOG, queuePrefix, QUEUE_NAMES } from './catalog.js';
import { endProducerSpan, producerSpanWanted, startProducerSpan } from './tracing.js';

interface Waiter {
  resolve: () => void;
  reject: (error: Error) => void;
}

const ignore = (): void => undefined;

function clearTimer(timer: NodeJS.Timeout | NodeJS.Immediate): void {
  if ('refresh' in timer) clearTimeout(timer);
  else clearImmediate(timer);
}

interface Pending {
  events: unknown[];
  waiters: Waiter[];
  /** Traced publishes: events [from, to) were published under `traceparent` (empty when tracing is off). */
  traces: Array<{ from: number; to: number; traceparent: string }>;
  /** Someone waits for an event of this batch (a 202): a write ahead of it ending sends it at once. */
  awaited: boolean;
  /** The batch was due but held back by `maxInFlight`: the next write to finish sends it. */
  heldBack: boolean;
}

export interface PublishOptions {
  /**
   * The producer built the event itself from values it had already validated (the route event on
   * the hot path): skip the producer-side schema check, which costs ~15 µs there. The type system
   * still checks its shape, and the consumer validates every job's payload against the catalog.
   */
  trusted?: boolean;
}

export interface PublisherOptions {
  /** Deployment key prefix (config `redis.key_prefix`). */
  keyPrefix: string;
  /** Jobs being written at once per event name; more events wait and ride in a larger batch. */
  maxInFlight?: number;
  /**
   * How long the first event of a batch waits for company before the batch is written (group
   * commit). Larger batches cost Redis and BullMQ far less per event; a 202 waits at most this long
   * more. 0 flushes at the end of the current event-loop turn.
   */
  lingerMs?: number;
  /**
   * The same for a batch of detached events only (nobody waits for them: the route event, the
   * gateway's records). Longer: at a modest request rate a 2 ms batch holds one or two events, and
   * a BullMQ job per couple of events is most of a gateway call's recording cost. An event someone
   * waits for joining such a batch brings its write forward to `lingerMs`.
   */
  detachedLingerMs?: number;
}

/**
 * Publishes catalogued events with group commit: events published in the same event-loop turn (and
 * while earlier writes are still in flight) share one BullMQ job, up to the event's `maxBatch`.
 * `publish` resolves only once the job holding the event is stored in Redis, so an endpoint that
 * awaits it and then answers 202 has really accepted the event; it rejects if Redis refused it.
 */
export class EventPublisher {
  private readonly queues = new Map<string, Queue>();
  private readonly pending = new Map<EventName, Pending>();
  private readonly inFlight = new Map<EventName, number>();
  /** The pending batch's write, per event name: when (performance.now()) and its timer. */
  private readonly scheduled = new Map<EventName, { at: number; timer: NodeJS.Timeout | NodeJS.Immediate }>();
  private readonly maxInFlight: number;
  private readonly lingerMs: number;
  private readonly detachedLingerMs: number;
  private closed = false;

  constructor(
    private readonly connection: Redis | Cluster,
    private readonly options: PublisherOptions,
  ) {
    this.maxInFlight = options.maxInFlight ?? 4;
    this.lingerMs = options.lingerMs ?? 2;
    this.detachedLingerMs = Math.max(this.lingerMs, options.detachedLingerMs ?? 20);
    for (const name of QUEUE_NAMES) {
      this.queues.set(name, new Queue(name, { connection, prefix: queuePrefix(options.keyPrefix), skipWaitingForReady: true }));
    }
  }

  /** Validates and enqueues one event; resolves when it is stored in Redis. */
  publish<N extends EventName>(name: N, event: EventInputOf<N>, options: PublishOptions = {}): Promise<void> {
    return this.publishMany(name, [event], options);
  }

  /** Validates and enqueues events of one name; resolves when every one is stored in Redis. */
  publishMany<N extends EventName>(name: N, events: readonly EventInputOf<N>[], options: PublishOptions = {}): Promise<void> {
    if (this.closed) return Promise.reject(new Error('publisher is closed'));
    if (events.length === 0) return Promise.resolve();
    if (!options.trusted) {
      const schema = JOB_CATALOG[name].event;
      for (const event of events) schema.parse(event);
    }
    const producer = startProducerSpan(JOB_CATALOG[name].queue, name, events.length);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = producer
        ? {
            resolve: () => {
              endProducerSpan(producer);
              resolve();
            },
            reject: (error) => {
              endProducerSpan(producer, error);
              reject(error);
            },
          }
        : { resolve, reject };
      this.enqueue(name, events, waiter, producer?.traceparent ?? null, true);
    });
  }

  /**
   * Enqueues one event that nobody waits for (the route event, published after its answer is
   * sent), without a promise per event; `onLost` is called for it if its batch cannot be stored.
   * The event must be valid by construction: there is no producer-side schema check (`trusted`).
   */
  publishDetached<N extends EventName>(name: N, event: EventInputOf<N>, onLost: (error: Error) => void): void {
    if (this.closed) {
      onLost(new Error('publisher is closed'));
      return;
    }
    // A traced request gets its producer span: take the promise path, which ends it.
    if (producerSpanWanted()) {
      this.publishMany(name, [event], { trusted: true }).catch(onLost);
      return;
    }
    this.enqueue(name, [event], { resolve: ignore, reject: onLost }, null, false);
  }

  /** `awaited`: someone waits for these events (a 202), so their batch lingers `lingerMs`, not `detachedLingerMs`. */
  private enqueue(name: EventName, events: readonly unknown[], waiter: Waiter, traceparent: string | null, awaited: boolean): void {
    let entry = this.pending.get(name);
    if (!entry) {
      entry = { events: [], waiters: [], traces: [], awaited: false, heldBack: false };
      this.pending.set(name, entry);
    }
    if (awaited) entry.awaited = true;
    const from = entry.events.length;
    for (const event of events) entry.events.push(event);
    if (traceparent) entry.traces.push({ from, to: entry.events.length, traceparent });
    entry.waiters.push(waiter);
    // A full batch goes at once; a partial one waits up to lingerMs for company.
    if (entry.events.length >= JOB_CATALOG[name].maxBatch) this.flush(name);
    else this.schedule(name, awaited ? this.lingerMs : this.detachedLingerMs);
  }

  /** The BullMQ queues, for dashboards and inspection (never for adding jobs). */
  get allQueues(): Queue[] {
    return [...this.queues.values()];
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const { timer } of this.scheduled.values()) clearTimer(timer);
    this.scheduled.clear();
    // Let what was already accepted reach Redis before the connection goes.
    while (this.pending.size > 0 || [...this.inFlight.values()].some((n) => n > 0)) {
      for (const name of this.pending.keys()) this.flush(name);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await Promise.all([...this.queues.values()].map((q) => q.close()));
  }

  /** Writes the pending batch of `name` within `lingerMs`, or sooner if it was already due sooner. */
  private schedule(name: EventName, lingerMs: number): void {
    const at = performance.now() + lingerMs;
    const current = this.scheduled.get(name);
    if (current && current.at <= at) return;
    if (current) clearTimer(current.timer);
    const flush = (): void => {
      this.scheduled.delete(name);
      this.flush(name);
    };
    this.scheduled.set(name, { at, timer: lingerMs > 0 ? setTimeout(flush, lingerMs) : setImmediate(flush) });
  }

  private flush(name: EventName): void {
    const entry = this.pending.get(name);
    if (!entry) return;
    if ((this.inFlight.get(name) ?? 0) >= this.maxInFlight) {
      entry.heldBack = true; // a finishing write sends it
      return;
    }
    this.pending.delete(name);
    // The batch goes now: a timer still set for it would write the next batch before its linger.
    const scheduled = this.scheduled.get(name);
    if (scheduled) {
      clearTimer(scheduled.timer);
      this.scheduled.delete(name);
    }

    const def = JOB_CATALOG[name];
    const jobs = [];
    for (let i = 0; i < entry.events.length; i += def.maxBatch) {
      const end = i + def.maxBatch;
      const trace = entry.traces.filter((t) => t.from < end && t.to > i).map((t) => t.traceparent);
      jobs.push({
        name,
        data: trace.length ? { events: entry.events.slice(i, end), trace } : { events: entry.events.slice(i, end) },
        opts: {
          attempts: def.attempts,
          backoff: def.backoff,
          removeOnComplete: def.removeOnComplete,
          removeOnFail: def.removeOnFail,
        },
      });
    }
    const queue = this.queues.get(def.queue)!;
    this.inFlight.set(name, (this.inFlight.get(name) ?? 0) + 1);
    const write = jobs.length === 1 ? queue.add(jobs[0]!.name, jobs[0]!.data, jobs[0]!.opts) : queue.addBulk(jobs);
    write.then(
      () => {
        for (const w of entry.waiters) w.resolve();
      },
      (error: unknown) => {
        const err = error instanceof Error ? error : new Error(String(error));
        for (const w of entry.waiters) w.reject(err);
      },
    ).finally(() => {
      this.inFlight.set(name, (this.inFlight.get(name) ?? 1) - 1);
      // What was due and held back by the cap goes now, and so does a batch someone waits for (a
      // 202 is not kept waiting once Redis is free; under an ingestion load these small, steady
      // writes also keep the aggregator's workers busy in parallel). A batch of detached events
      // only (the gateway's records) keeps gathering company until its timer: writing it here cut
      // every such linger short under load, one small job per Redis round trip.
      const next = this.pending.get(name);
      if (next && (next.heldBack || next.awaited)) this.flush(name);
    });
  }
}
