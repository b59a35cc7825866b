/**
 * Helpers of the sections that need the real workers (metric-aggregator, budget-enforcer) beside
 * the bench API (bench/servers/api.ts): the bench database and Redis prefix, starting a worker's
 * own main.ts as a child process, and small JSON calls to the API.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { adminAuthorization, clientAuthorization, serviceKeyEnv } from './keys.js';
import { rssLedger } from './rss.js';

/** Same database, Redis and key prefix as bench/servers/api.ts. */
export const BENCH_DATABASE_URL = process.env.BENCH_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/model_router_bench';
export const BENCH_REDIS_URL = process.env.BENCH_REDIS_URL || 'redis://127.0.0.1:6379';
export const BENCH_KEY_PREFIX = 'mrbench';

export interface Worker {
  name: string;
  pid: number;
  opsUrl: string;
  stop: () => Promise<void>;
}

/** Variables of the machine's shell that would change what the worker does: never inherited. */
const SCRUBBED = [
  'DATABASE_URL', 'DATABASE_POOL_SIZE', 'REDIS_URL', 'REDIS_KEY_PREFIX', 'ADMIN_API_KEY', 'CLIENT_API_KEY', 'READONLY_API_KEY',
  'MODEL_ROUTER_CONFIG', 'PORT', 'HOST', 'METRIC_AGGREGATOR_PORT', 'HEALTH_CHECKER_PORT', 'CACHE_INVALIDATOR_PORT', 'BUDGET_ENFORCER_PORT',
];

/**
 * Starts a service on the bench database and prefix: `node <script>` for the compiled build
 * (services/<name>/dist/main.js, as production runs it; `pnpm bench` builds first), or
 * `node --import tsx <script>` for a TypeScript file; waits until its ops server answers /readyz.
 */
export async function startWorker(options: {
  name: string;
  script: string;
  cwd: string;
  portVariable: string;
  port: number;
  env?: Record<string, string>;
  timeoutMs?: number;
  /** Extra arguments for node (a CPU profile, say). */
  nodeArgs?: string[];
}): Promise<Worker> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const key of SCRUBBED) delete env[key];
  Object.assign(env, {
    DATABASE_URL: BENCH_DATABASE_URL,
    REDIS_URL: BENCH_REDIS_URL,
    REDIS_KEY_PREFIX: BENCH_KEY_PREFIX,
    NODE_ENV: 'production',
    LOG_LEVEL: 'error',
    // Production mode wants keys of the bench's own (the shipped development key is refused) and
    // refuses a Redis without persistence unless told: the bench's Redis is throwaway.
    ...serviceKeyEnv(),
    REDIS_ALLOW_VOLATILE: 'true',
    [options.portVariable]: String(options.port),
    ...options.env,
  });
  const loader = options.script.endsWith('.ts') ? ['--import', 'tsx'] : [];
  const child: ChildProcess = spawn(process.execPath, [...(options.nodeArgs ?? []), ...loader, options.script], {
    cwd: options.cwd,
    env,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const opsUrl = `http://127.0.0.1:${options.port}`;
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    rssLedger.after(child.pid!);
    child.kill('SIGTERM');
    const exited = once(child, 'exit');
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(timer);
  };
  const deadline = Date.now() + (options.timeoutMs ?? 90_000);
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${options.name}: exited before it was ready (code ${child.exitCode})`);
    try {
      const res = await fetch(`${opsUrl}/readyz`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`${options.name}: /readyz not ready after ${options.timeoutMs ?? 90_000} ms`);
    }
    await sleep(200);
  }
  rssLedger.idle(options.name, child.pid!);
  return { name: options.name, pid: child.pid!, opsUrl, stop };
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export interface JsonAnswer {
  status: number;
  body: unknown;
  text: string;
}

/** One JSON request with the bench's client key, or its admin key when `admin`. */
export async function callJson(method: string, url: string, body?: unknown, admin = false): Promise<JsonAnswer> {
  const headers: Record<string, string> = admin ? adminAuthorization() : clientAuthorization();
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(url, { method, headers, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await res.text();
  let parsed: unknown = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = null;
  }
  return { status: res.status, body: parsed, text };
}

/**
 * Deletes the circuits of every model under the bench prefix ("mrbench:circuit:*", see
 * packages/redis/src/keys.ts). The memory section runs the health-checker, which opens the circuit
 * of each model whose endpoint it cannot reach (a catalog seeded before, pointing elsewhere); open
 * circuits outlive the run (a day's TTL) and would make every later route answer 503.
 */
export async function clearCircuits(redisUrl: string): Promise<number> {
  const { Redis } = await import('ioredis');
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  let deleted = 0;
  try {
    for await (const batch of redis.scanStream({ match: `${BENCH_KEY_PREFIX}:circuit:*`, count: 1000 })) {
      if ((batch as string[]).length) deleted += await redis.unlink(...(batch as string[]));
    }
  } finally {
    redis.disconnect();
  }
  return deleted;
}

/** Deletes every key of the named BullMQ queues under the bench prefix ("{mrbench}:<queue>:*"). */
export async function clearQueues(redisUrl: string, queues: readonly string[]): Promise<number> {
  const { Redis } = await import('ioredis');
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  let deleted = 0;
  try {
    for (const queue of queues) {
      const keys: string[] = [];
      for await (const batch of redis.scanStream({ match: `{${BENCH_KEY_PREFIX}}:${queue}:*`, count: 1000 })) keys.push(...(batch as string[]));
      for (let i = 0; i < keys.length; i += 1000) deleted += await redis.unlink(...keys.slice(i, i + 1000));
    }
  } finally {
    redis.disconnect();
  }
  return deleted;
}
