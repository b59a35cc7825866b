/**
 * Section "memory": every service as production runs it, from the compiled build
 * (`node dist/main.js` in services/<name>, no TypeScript loader), on the bench database and Redis
 * prefix: resident memory (RSS) of each process at idle, then again after a route load on the
 * API (the http-route section's request, same connections and duration), with each one's peak.
 */
import { createServer } from 'node:net';
import { join } from 'node:path';
import pg from 'pg';
import { PRODUCTION_V8_FLAG } from '../lib/child.js';
import { startLoadGenerator } from '../lib/load.js';
import { readRss, type RssSample } from '../lib/rss.js';
import { BENCH_DATABASE_URL, BENCH_REDIS_URL, clearCircuits, clearQueues, sleep, startWorker, type Worker } from '../lib/services.js';
import { envNumber, fixed, int } from '../lib/stats.js';
import type { Section, SectionResult } from '../lib/types.js';
import { SEED_ROUTE_BODY } from './http-route.js';

const IDLE_TARGET_MB = 150;
/** What a deployment sets beside what startWorker gives every service (the bench's keys, its volatile Redis accepted). */
const PRODUCTION_ENV = {
  ALLOW_PRIVATE_ENDPOINTS: 'true',
  // The V8 setting the image gives every service (infra/Dockerfile, ENV NODE_OPTIONS): a young
  // generation of at most 8 MB per semi-space.
  NODE_OPTIONS: PRODUCTION_V8_FLAG,
};
const API_AFTER_TARGET_MB = 250;

/** Each process, the variable that sets its port, and the path that says it is ready. */
const SERVICES = [
  { name: 'mock-provider', portVariable: 'MOCK_PROVIDER_PORT' },
  { name: 'api', portVariable: 'PORT' },
  { name: 'metric-aggregator', portVariable: 'METRIC_AGGREGATOR_PORT' },
  { name: 'health-checker', portVariable: 'HEALTH_CHECKER_PORT' },
  { name: 'cache-invalidator', portVariable: 'CACHE_INVALIDATOR_PORT' },
  { name: 'budget-enforcer', portVariable: 'BUDGET_ENFORCER_PORT' },
] as const;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

const cell = (sample: RssSample | null | undefined): string => (sample ? fixed(sample.rss_mb, 1) : '—');

export const memorySection: Section = {
  name: 'memory',
  usesDatabase: true,
  title: 'Memory (RSS) of every service from the compiled build: idle, and after route load on the API',
  async run(ctx): Promise<SectionResult> {
    const settleSeconds = envNumber('BENCH_IDLE_SETTLE', 5);
    const durationSeconds = envNumber('BENCH_DURATION', 10);
    const warmupSeconds = envNumber('BENCH_WARMUP', 3);
    const connections = Math.round(envNumber('BENCH_CONNECTIONS', 64));
    const ports = Object.fromEntries(await Promise.all(SERVICES.map(async (s) => [s.name, await freePort()] as const))) as Record<string, number>;
    const mockUrl = `http://127.0.0.1:${ports['mock-provider']}`;
    // The catalog was seeded by whichever bench server started on the bench database first,
    // pointing at the default mock port: the health-checker here would find nothing there, open
    // every circuit and turn the route load into 503s. Point every model at this section's mock.
    const db = new pg.Client({ connectionString: BENCH_DATABASE_URL });
    await db.connect();
    try {
      await db.query('UPDATE model_router.models SET endpoint = $1', [`${mockUrl}/v1`]);
    } finally {
      await db.end();
    }
    const workers: Worker[] = [];
    const generator = await startLoadGenerator();
    try {
      for (const service of SERVICES) {
        ctx.log(`memory: starting ${service.name} (node dist/main.js)`);
        workers.push(
          await startWorker({
            name: service.name,
            script: 'dist/main.js',
            cwd: join(ctx.rootDir, 'services', service.name),
            portVariable: service.portVariable,
            port: ports[service.name]!,
            // Production mode (NODE_ENV=production, as startWorker sets it) with its refusals answered
            // as a deployment answers them; seeded models point at this mock provider.
            env: { ...PRODUCTION_ENV, CATALOG_ENDPOINT_BASE_URL: `${mockUrl}/v1`, LOG_LEVEL: 'warn' },
          }),
        );
      }
      ctx.log(`memory: all ready; idle for ${settleSeconds} s`);
      await sleep(settleSeconds * 1000);
      const idle = new Map(workers.map((w) => [w.name, readRss(w.pid)]));

      const api = workers.find((w) => w.name === 'api')!;
      const load = {
        url: `${api.opsUrl}/api/v1/route`,
        body: JSON.stringify(SEED_ROUTE_BODY),
        connections,
      };
      ctx.log(`memory: route load on the API (${warmupSeconds} s warm-up, ${durationSeconds} s measured)`);
      if (warmupSeconds > 0) await generator.run({ ...load, durationSeconds: warmupSeconds });
      const result = await generator.run({ ...load, durationSeconds });
      const after = new Map(workers.map((w) => [w.name, readRss(w.pid)]));

      const rows = workers.map((w) => [w.name, cell(idle.get(w.name)), cell(after.get(w.name)), after.get(w.name) ? fixed(after.get(w.name)!.peak_mb, 1) : '—']);
      const idleOver = workers.filter((w) => (idle.get(w.name)?.rss_mb ?? Infinity) > IDLE_TARGET_MB);
      const apiAfter = after.get('api')?.rss_mb ?? Infinity;
      const loadFailed = result.requests_total === 0 || result.non2xx > 0 || result.errors > 0;
      const maxIdle = Math.max(...workers.map((w) => idle.get(w.name)?.rss_mb ?? Infinity));
      return {
        tables: [
          {
            title: `RSS (MB) of each process, started as \`node dist/main.js\` (idle: ${settleSeconds} s after all were ready; after: right after the route load)`,
            columns: ['process', 'idle', 'after load', 'peak'],
            rows,
          },
        ],
        targets: [
          {
            name: 'RSS of each service at idle (compiled build)',
            target: `≤ ${IDLE_TARGET_MB} MB each`,
            actual: `max ${fixed(maxIdle, 1)} MB${idleOver.length ? ` (${idleOver.map((w) => w.name).join(', ')} over)` : ''}`,
            pass: idleOver.length === 0,
          },
          {
            name: 'RSS of the API after the route load',
            target: `≤ ${API_AFTER_TARGET_MB} MB`,
            actual: `${fixed(apiAfter, 1)} MB${loadFailed ? ` (the load failed: ${result.non2xx} non-2xx, ${result.errors} errors in ${result.requests_total} requests)` : ''}`,
            // A load that was not answered says nothing about memory after a route bench.
            pass: apiAfter <= API_AFTER_TARGET_MB && !loadFailed,
          },
        ],
        notes: [
          `Route load: ${int(result.requests_total)} requests in ${durationSeconds} s (${int(result.requests_per_second)}/s, ${connections} connections, non-2xx ${result.non2xx}) after a ${warmupSeconds} s warm-up.`,
          'Idle is before the first route request; the API and the mock provider build the o200k tokenizer before they listen, so idle already includes its vocabulary.',
          'Every process bench/run.ts started, in every section, is also listed with its RSS at the end of the output.',
        ],
        data: {
          idle_settle_s: settleSeconds,
          duration_s: durationSeconds,
          connections,
          requests_total: result.requests_total,
          requests_per_second: result.requests_per_second,
          processes: Object.fromEntries(workers.map((w) => [w.name, { idle: idle.get(w.name), after: after.get(w.name) }])),
        },
      };
    } finally {
      for (const worker of workers.reverse()) await worker.stop().catch((error: unknown) => ctx.log(`${worker.name}: ${String(error)}`));
      await generator.stop();
      await clearQueues(BENCH_REDIS_URL, ['route-events', 'metric-events', 'model-outcomes', 'health-probes', 'cost-events']).catch(() => 0);
      // The health-checker's circuits would turn the next run's route requests into 503s.
      await clearCircuits(BENCH_REDIS_URL).catch(() => 0);
    }
  },
};
