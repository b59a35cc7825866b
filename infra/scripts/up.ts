/**
 * `make up` (and `pnpm start`): checks Postgres and Redis, applies migrations, then starts the
 * mock provider, the API and every worker, waits until each is ready and prints the URLs. Ctrl-C
 * (or SIGTERM) stops them all gracefully.
 */
import { type Config, ConfigError, loadConfig } from '@model-router/config';
import { ensureDatabase, migrate } from '@model-router/database';
import concurrently from 'concurrently';
import { Redis } from 'ioredis';
import pg from 'pg';

const PG_START = 'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start';
// AOF on and no eviction: accepted events wait in Redis until a worker writes them to Postgres.
const REDIS_START =
  'mkdir -p /var/lib/redis/model-router && redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly yes --appendfsync everysec --maxmemory-policy noeviction --dir /var/lib/redis/model-router --logfile /var/log/redis/ci.log';

function fail(message: string): never {
  console.error(`\n✖ ${message}\n`);
  process.exit(1);
}

async function checkPostgres(config: Config): Promise<void> {
  const url = new URL(config.database.url);
  url.pathname = '/postgres';
  const client = new pg.Client({ connectionString: url.toString(), connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.end();
  } catch (error) {
    fail(
      `Postgres is not reachable at ${url.host} (${(error as Error).message}).\n` +
        `  Start it (on this machine:  ${PG_START}),\n` +
        `  or point DATABASE_URL at a running server, then run the command again.`,
    );
  }
}

async function checkRedis(config: Config): Promise<void> {
  const redis = new Redis(config.redis.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  try {
    await redis.connect();
    await redis.ping();
  } catch (error) {
    fail(
      `Redis is not reachable at ${config.redis.url} (${(error as Error).message}).\n` +
        `  Start it (on this machine:  ${REDIS_START}),\n` +
        `  or point REDIS_URL at a running server, then run the command again.`,
    );
  } finally {
    redis.disconnect();
  }
}

async function waitReady(name: string, url: string, timeoutMs = 60_000): Promise<void> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    try {
      const res = await fetch(url);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  fail(`${name} did not become ready at ${url} within ${timeoutMs / 1000}s (see its log lines above)`);
}

let config: Config;
try {
  config = loadConfig();
} catch (error) {
  if (error instanceof ConfigError) fail(error.message);
  throw error;
}
await checkPostgres(config);
await checkRedis(config);
await ensureDatabase(config.database.url);
const applied = await migrate({ databaseUrl: config.database.url });
console.log(applied.length ? `migrations applied: ${applied.join(', ')}` : 'database schema is up to date');

const apiUrl = `http://127.0.0.1:${config.server.port}`;
const mockUrl = `http://127.0.0.1:${config.mock_provider.port}`;

/** Every process of the system: name, workspace package, and the URL that says it is ready. */
const opsUrl = (port: number) => `http://127.0.0.1:${port}`;
const workers = config.workers;
const services = [
  { name: 'mock-provider', ready: `${mockUrl}/healthz` },
  { name: 'api', ready: `${apiUrl}/readyz` },
  { name: 'metric-aggregator', ready: `${opsUrl(workers.metric_aggregator.ops_port)}/readyz` },
  { name: 'health-checker', ready: `${opsUrl(workers.health_checker.ops_port)}/readyz` },
  { name: 'cache-invalidator', ready: `${opsUrl(workers.cache_invalidator.ops_port)}/readyz` },
  { name: 'budget-enforcer', ready: `${opsUrl(workers.budget_enforcer.ops_port)}/readyz` },
];

const { result, commands } = concurrently(
  // Node itself with the tsx loader (no wrapper process): a signal reaches each service directly,
  // and nothing in between turns a second signal into a kill while a service is still stopping.
  // process.execPath: the same (pinned) Node that runs this script, whatever PATH says.
  // --conditions=development: workspace packages resolve to their sources, so no build is needed.
  services.map((s) => ({
    name: s.name,
    command: `${process.execPath} --conditions=development --import tsx src/main.ts`,
    cwd: `services/${s.name}`,
  })),
  { prefix: 'name', killSignal: 'SIGTERM' },
);

/** Stops every service once: on Ctrl-C/SIGTERM, or when one of them dies on its own. */
let stopping = false;
const stop = (): void => {
  if (stopping) return;
  stopping = true;
  for (const command of commands) command.kill('SIGTERM');
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
for (const command of commands) {
  command.close.subscribe((event) => {
    if (stopping) return;
    console.error(`\n✖ ${command.name} exited (${String(event.exitCode)}): stopping the others\n`);
    stop();
  });
}

await Promise.all(services.map((s) => waitReady(s.name, s.ready)));
console.log(`
✔ Model Router is up
  API            ${apiUrl}/api/v1   (route: POST ${apiUrl}/api/v1/route)
  Health         ${apiUrl}/healthz  ${apiUrl}/readyz
  Metrics        ${apiUrl}/metrics
  Operator page  ${apiUrl}/admin          (admin key as the password)
  Queues         ${apiUrl}/admin/queues   (admin key as the password)
  Mock provider  ${mockUrl}/v1
  Workers        metric-aggregator ${opsUrl(workers.metric_aggregator.ops_port)}  health-checker ${opsUrl(workers.health_checker.ops_port)}  cache-invalidator ${opsUrl(workers.cache_invalidator.ops_port)}  budget-enforcer ${opsUrl(workers.budget_enforcer.ops_port)}  (/healthz /readyz /metrics)
  Admin key      from configs/model-router.yaml or ADMIN_API_KEY
  Stop with Ctrl-C.
`);

// Every service stopped: 0 when each stopped cleanly, 1 otherwise.
await result.then(
  () => process.exit(0),
  () => process.exit(1),
);
