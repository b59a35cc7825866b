/**
 * The event publisher's group commit on the real Redis: what lands in one BullMQ job, and when
 * `publish` resolves.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { EventPublisher, type MetricRecordedEvent, type PublisherOptions, type RouteDecidedEvent } from '@model-router/queue';
import { Redis } from 'ioredis';
import { createTestEnv, REDIS_URL, type TestEnv, waitFor } from '../support/index.js';

let env: TestEnv;
let redis: Redis;
let publisher: EventPublisher;
type Queue = EventPublisher['allQueues'][number];

let routeQueue: Queue;
let metricQueue: Queue;

beforeAll(async () => {
  env = await createTestEnv();
  redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  publisher = new EventPublisher(redis, { keyPrefix: env.redisPrefix });
  const queue = (name: string) => publisher.allQueues.find((q) => q.name === name)!;
  routeQueue = queue('route-events');
  metricQueue = queue('metric-events');
});

afterAll(async () => {
  await publisher?.close();
  redis?.disconnect();
  await env?.cleanup();
});

const routeEvent = (id: string): RouteDecidedEvent => ({
  event_id: id,
  key_id: 'default',
  occurred_at: new Date().toISOString(),
  model_id: 'gpt-4o',
  provider: 'openai',
  strategy: 'cheapest',
  user_id: null,
  ab_test_id: null,
  variant_id: null,
  prompt_tokens: 3,
  max_tokens: 100,
  estimated_cost_nanos: 1000,
  estimated_latency_ms: 500,
});

const metricEvent = (id: string): MetricRecordedEvent => ({
  event_id: id,
  key_id: 'default',
  occurred_at: new Date().toISOString(),
  accepted_at: new Date().toISOString(),
  model_id: 'gpt-4o',
  provider: 'openai',
  success: true,
  latency_ms: 100,
  prompt_tokens: 1,
  completion_tokens: 1,
  cost_nanos: 10,
  user_id: null,
  request_id: null,
  ab_test_id: null,
  variant_id: null,
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One more turn of the event loop: a batch written from setImmediate is then in flight (its reply cannot come within the same turn). */
const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

/**
 * Runs `body` with a publisher of its own (its own key prefix, so no other test's jobs are seen,
 * and its own timing options) and that publisher's route-events queue; closes the publisher and
 * removes the queue afterwards.
 */
async function withOwnPublisher(name: string, options: Omit<PublisherOptions, 'keyPrefix'>, body: (own: EventPublisher, queue: Queue) => Promise<void>): Promise<void> {
  const own = new EventPublisher(redis, { keyPrefix: `${env.redisPrefix}${name}`, ...options });
  const queue = own.allQueues.find((q) => q.name === 'route-events')!;
  try {
    await body(own, queue);
  } finally {
    await own.close();
    await queue.obliterate({ force: true }).catch(() => undefined);
  }
}

/** The event ids of each job in the queue, oldest job first. */
async function jobsOf(queue: Queue): Promise<string[][]> {
  const jobs = await queue.getJobs(['waiting'], 0, -1, true);
  return jobs.map((job) => (job.data as { events: Array<{ event_id: string }> }).events.map((e) => e.event_id));
}

describe('EventPublisher', () => {
  it('puts events published together into one job, resolving once it is stored', async () => {
    // As concurrent requests do: both publishes happen before the linger timer writes the batch.
    const first = publisher.publish('route.decided', routeEvent('r1'), { trusted: true });
    const second = publisher.publish('route.decided', routeEvent('r2'), { trusted: true });
    await Promise.all([first, second]);
    expect(await jobsOf(routeQueue)).toEqual([['r1', 'r2']]);
  });

  it('writes a batch after a short linger, so a 202 waits at most a few ms for company', async () => {
    const first = publisher.publish('metric.recorded', metricEvent('m1'));
    await sleep(15);
    const second = publisher.publish('metric.recorded', metricEvent('m2'));
    await Promise.all([first, second]);
    expect(await jobsOf(metricQueue)).toEqual([['m1'], ['m2']]);
  });

  it('stores detached events (nobody waits for them) in the same group commit, and reports none lost', async () => {
    const lost: Error[] = [];
    publisher.publishDetached('route.decided', routeEvent('d1'), (error) => lost.push(error));
    publisher.publishDetached('route.decided', routeEvent('d2'), (error) => lost.push(error));
    const jobs = await waitFor(() => jobsOf(routeQueue), (found) => found.length >= 2, { timeoutMs: 2000, what: 'the detached events' });
    expect(jobs).toEqual([['r1', 'r2'], ['d1', 'd2']]);
    expect(lost).toEqual([]);
  });

  it('holds a batch of detached events for their longer linger, and writes it with the first event someone waits for', async () => {
    // A publisher of its own with a long detached linger, so that no timing decides the outcome.
    await withOwnPublisher('patient', { detachedLingerMs: 60_000 }, async (patient, queue) => {
      const lost: Error[] = [];
      patient.publishDetached('route.decided', routeEvent('p1'), (error) => lost.push(error));
      await sleep(30);
      patient.publishDetached('route.decided', routeEvent('p2'), (error) => lost.push(error));
      await sleep(30);
      expect(await jobsOf(queue)).toEqual([]); // still waiting for company
      // An event a caller waits for joins the batch and brings its write forward.
      await patient.publish('route.decided', routeEvent('p3'), { trusted: true });
      expect(await jobsOf(queue)).toEqual([['p1', 'p2', 'p3']]);
      // Closing writes what is pending at once.
      patient.publishDetached('route.decided', routeEvent('p4'), (error) => lost.push(error));
      await patient.close();
      expect(await jobsOf(queue)).toEqual([['p1', 'p2', 'p3'], ['p4']]);
      expect(lost).toEqual([]);
    });
  });

  it('lets a batch gathered while a write is in flight finish its linger (the write ending does not cut it short)', async () => {
    // lingerMs 0: the awaited event's batch is written from setImmediate, so after the next turn
    // its write is in flight.
    await withOwnPublisher('linger', { lingerMs: 0, detachedLingerMs: 60_000 }, async (patient, queue) => {
      const lost: Error[] = [];
      const first = patient.publish('route.decided', routeEvent('w1'), { trusted: true });
      await nextTurn();
      patient.publishDetached('route.decided', routeEvent('w2'), (error) => lost.push(error));
      await first;
      await sleep(50);
      expect(await jobsOf(queue)).toEqual([['w1']]); // w2 still waits for company
      await patient.close();
      expect(await jobsOf(queue)).toEqual([['w1'], ['w2']]);
      expect(lost).toEqual([]);
    });
  });

  it('sends a batch someone waits for as soon as the write ahead of it finishes, without its linger', async () => {
    // A full batch (route.decided: 1,000 events) is written at once; lingers of a minute mean only
    // that write's end can send the awaited event in time.
    await withOwnPublisher('awaited', { lingerMs: 60_000, detachedLingerMs: 60_000 }, async (waiting, queue) => {
      const full = Array.from({ length: 1000 }, (_, i) => routeEvent(`f${i}`));
      const first = waiting.publishMany('route.decided', full, { trusted: true });
      const second = waiting.publish('route.decided', routeEvent('a1'), { trusted: true });
      await Promise.all([first, second]);
      expect((await jobsOf(queue)).map((ids) => ids.length)).toEqual([1000, 1]);
    });
  });

  it('gives the batch after a full one its own linger (the timer set for the full batch does not write it early)', async () => {
    // a1 sets a 100 ms timer; the full batch (a1 and 999 more) is written at once. d1 then starts a
    // new batch, which must wait for its minute-long linger, not for a1's timer.
    await withOwnPublisher('stale', { lingerMs: 100, detachedLingerMs: 60_000 }, async (own, queue) => {
      const lost: Error[] = [];
      const first = own.publish('route.decided', routeEvent('a1'), { trusted: true });
      const rest = own.publishMany('route.decided', Array.from({ length: 999 }, (_, i) => routeEvent(`r${i}`)), { trusted: true });
      own.publishDetached('route.decided', routeEvent('d1'), (error) => lost.push(error));
      await Promise.all([first, rest]);
      await sleep(300); // a1's timer would have fired by now
      expect((await jobsOf(queue)).map((ids) => ids.length)).toEqual([1000]);
      await own.close();
      expect((await jobsOf(queue)).at(-1)).toEqual(['d1']);
      expect(lost).toEqual([]);
    });
  });

  it('sends a batch held back by the in-flight cap as soon as the write ahead of it finishes', async () => {
    await withOwnPublisher('capped', { lingerMs: 0, detachedLingerMs: 0, maxInFlight: 1 }, async (capped, queue) => {
      const lost: Error[] = [];
      const first = capped.publish('route.decided', routeEvent('c1'), { trusted: true });
      await nextTurn();
      // Detached (nobody waits for it) and due at once, but capped: no timer is left for it, so
      // only the end of the write ahead of it can send it.
      capped.publishDetached('route.decided', routeEvent('c2'), (error) => lost.push(error));
      await first;
      const jobs = await waitFor(() => jobsOf(queue), (found) => found.length >= 2, { timeoutMs: 2000, what: 'the held-back batch' });
      expect(jobs).toEqual([['c1'], ['c2']]);
      expect(lost).toEqual([]);
    });
  });

  it('refuses an invalid event before it reaches Redis', async () => {
    const bad = { ...metricEvent('m3'), latency_ms: -1 };
    expect(() => publisher.publish('metric.recorded', bad)).toThrow();
    expect(await jobsOf(metricQueue)).toHaveLength(2);
  });

  it('reports a detached event lost at once when the publisher is closed (the API is stopping)', async () => {
    await publisher.close();
    const lost: Error[] = [];
    publisher.publishDetached('route.decided', routeEvent('late'), (error) => lost.push(error));
    expect(lost.map((e) => e.message)).toEqual(['publisher is closed']);
    expect((await jobsOf(routeQueue)).flat()).not.toContain('late');
  });
});
