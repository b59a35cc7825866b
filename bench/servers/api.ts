/**
 * The real API for the HTTP benchmark, as `services/api/src/main.ts` starts it, on its own
 * database and Redis key prefix. The environment of the machine is ignored (so a CLIENT_API_KEY
 * or DATABASE_URL set in the shell cannot change what is measured); BENCH_DATABASE_URL and
 * BENCH_REDIS_URL choose other servers.
 *
 * Every answered route request publishes a `route.decided` event to a BullMQ queue in Redis. No
 * consumer runs during this benchmark, so the events stay queued: the "route-events" request
 * counts them, and stopping deletes the bench's queues so repeated runs leave nothing behind.
 */
import { startApi } from '@model-router/api';
import { loadConfig } from '@model-router/config';
import { createLogger } from '@model-router/logger';
import { reportReady } from '../lib/child.js';
import { BENCH_ADMIN_KEY, BENCH_CLIENT_KEY } from '../lib/keys.js';
import { BENCH_DATABASE_URL, BENCH_REDIS_URL } from '../lib/services.js';

export const BENCH_KEY_PREFIX = 'mrbench';

const config = loadConfig({
  env: {},
  overrides: {
    'database.url': BENCH_DATABASE_URL,
    'redis.url': BENCH_REDIS_URL,
    'redis.key_prefix': BENCH_KEY_PREFIX,
    'server.host': '127.0.0.1',
    'server.port': 0,
    'service.environment': 'production',
    'log.level': 'error',
    // The bench's Redis is throwaway (the machine's, without persistence): production mode would
    // refuse it otherwise.
    'redis.allow_volatile': true,
    // Every upstream here is the bench's own mock provider on loopback, which production mode
    // refuses by default.
    'security.allow_private_endpoints': true,
    // Production mode refuses the shipped admin key and wants a client key: the bench's own
    // (bench/lib/keys.ts), which every request of the bench sends.
    'auth.admin_api_key': BENCH_ADMIN_KEY,
    'auth.client_api_key': BENCH_CLIENT_KEY,
  },
});
const logger = createLogger('api-bench', config.log.level);
const api = await startApi(config, logger);

const PAGE = 200;

/** Jobs and events waiting in the route-events queue (none is consumed during the bench). */
async function countRouteEvents(): Promise<{ jobs: number; events: number }> {
  const queue = api.publisher.allQueues.find((q) => q.name === 'route-events');
  if (!queue) throw new Error('the API has no route-events queue');
  let jobs = 0;
  let events = 0;
  for (let start = 0; ; start += PAGE) {
    const page = await queue.getJobs(['waiting', 'prioritized', 'delayed', 'active', 'completed', 'failed'], start, start + PAGE - 1, true);
    for (const job of page) {
      jobs++;
      events += (job.data as { events?: unknown[] }).events?.length ?? 0;
    }
    if (page.length < PAGE) break;
  }
  return { jobs, events };
}

reportReady(
  { url: api.url, models: api.snapshots.current.models.length },
  async () => {
    // Collect the queues first: stop() flushes whatever the publisher still holds into them.
    const queues = api.publisher.allQueues;
    const cleaner = api.redis.duplicate();
    // The bench runs on a single Redis (a cluster client has no whole-keyspace scanStream).
    if (!('scanStream' in cleaner)) throw new Error('the bench needs a single Redis, not a cluster');
    // The API's client refuses commands until connected (no offline queue): wait for it.
    if (cleaner.status !== 'ready') await new Promise((resolve) => cleaner.once('ready', resolve));
    await api.stop();
    try {
      for (const queue of queues) {
        // BullMQ keeps a queue's keys under "{mrbench}:<queue>:".
        const keys: string[] = [];
        for await (const batch of cleaner.scanStream({ match: `${queue.opts.prefix ?? 'bull'}:${queue.name}:*`, count: 1000 })) {
          keys.push(...(batch as string[]));
        }
        for (let i = 0; i < keys.length; i += 1000) await cleaner.unlink(...keys.slice(i, i + 1000));
      }
    } finally {
      cleaner.disconnect();
    }
  },
  { 'route-events': countRouteEvents },
);
