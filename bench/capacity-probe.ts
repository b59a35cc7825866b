/**
 * What 1,000 metric events cost Redis, Postgres and each process, at a given batch size, for the
 * capacity model in docs/operations.md:
 *
 *   pnpm exec tsx bench/capacity-probe.ts [events=50000] [batch=1000]   (CAPACITY_ROUTES=20000)
 *
 * Starts a Redis of its own (free port, temp directory, AOF everysec as shipped), a database of its
 * own (migrated), and the API, metric-aggregator and budget-enforcer as processes (NODE_ENV=test),
 * sends `events` metric events in HTTP batches of `batch` (4 in flight), waits until every one is
 * persisted and counted, and prints the deltas over that window: CPU seconds of each process
 * (/proc), Redis commands by name and network bytes (INFO), Postgres transactions and rows
 * (pg_stat_database of its database) and the server's WAL bytes (other work adds to those).
 * Then it sends CAPACITY_ROUTES route requests (32 in flight) and prints the same per 1,000 routes.
 * Everything it started is stopped by pid and removed at the end.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import pg from 'pg';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const EVENTS = Number(process.argv[2] ?? 50_000);
const BATCH = Number(process.argv[3] ?? 1000);
const ADMIN_KEY = 'capacity-probe-admin-key-0123456789';
const PG = 'postgres://postgres@127.0.0.1:5432';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const freePort = () =>
  new Promise<number>((ok) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => ok(port));
    });
  });

const children: ChildProcess[] = [];
function start(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): ChildProcess {
  const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'ignore', 'inherit'] });
  children.push(child);
  return child;
}

const cpu = (child: ChildProcess): number => {
  const fields = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
};

async function waitOk(url: string): Promise<void> {
  for (let i = 0; i < 900; i++) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {}
    await sleep(100);
  }
  throw new Error(`${url} never became ready`);
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'mr-capacity-'));
  const db = `mr_capacity_${process.pid}`;
  const admin = new pg.Client({ connectionString: `${PG}/postgres` });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${db}`);
  const redisPort = await freePort();
  const redisServer = start('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'yes', '--appendfsync', 'everysec', '--maxmemory-policy', 'noeviction'], dir, process.env);
  try {
    const ports = { api: await freePort(), agg: await freePort(), enf: await freePort() };
    const env = {
      ...process.env, DATABASE_URL: `${PG}/${db}`, REDIS_URL: `redis://127.0.0.1:${redisPort}`, REDIS_KEY_PREFIX: 'mrcap',
      ADMIN_API_KEY: ADMIN_KEY, NODE_ENV: 'test', LOG_LEVEL: 'error',
      PORT: String(ports.api), METRIC_AGGREGATOR_PORT: String(ports.agg), BUDGET_ENFORCER_PORT: String(ports.enf),
    };
    const node = (service: string) => start(process.execPath, ['--conditions=development', '--import', 'tsx', 'src/main.ts'], join(ROOT, 'services', service), env);
    const api = node('api');
    await waitOk(`http://127.0.0.1:${ports.api}/readyz`);
    const aggregator = node('metric-aggregator');
    const enforcer = node('budget-enforcer');
    await waitOk(`http://127.0.0.1:${ports.agg}/readyz`);
    await waitOk(`http://127.0.0.1:${ports.enf}/readyz`);
    const models = ((await (await fetch(`http://127.0.0.1:${ports.api}/api/v1/models`)).json()) as { models: { id: string }[] }).models.map((m) => m.id);
    await fetch(`http://127.0.0.1:${ports.api}/api/v1/budgets`, {
      method: 'POST', headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'capacity-global', scope: 'global', period: 'daily', limit_usd: 9_000_000, action: 'alert_only' }),
    });

    const redis = new Redis(env.REDIS_URL);
    const pool = new pg.Pool({ connectionString: env.DATABASE_URL, max: 2 });
    const redisCounters = async () => {
      const out = new Map<string, number>();
      for (const section of ['commandstats', 'stats']) {
        for (const line of (await redis.info(section)).split(/\r?\n/)) {
          const cmd = /^cmdstat_([^:]+):calls=(\d+)/.exec(line);
          if (cmd) out.set(cmd[1]!, Number(cmd[2]));
          const net = /^(total_net_input_bytes|total_net_output_bytes):(\d+)/.exec(line);
          if (net) out.set(net[1]!, Number(net[2]));
        }
      }
      return out;
    };
    const pgCounters = async () =>
      (await pool.query(`SELECT xact_commit, tup_inserted, tup_updated, tup_fetched, pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint AS wal_bytes_server
                           FROM pg_stat_database WHERE datname = current_database()`)).rows[0] as Record<string, string>;
    const count = async (sql: string) => Number((await pool.query(sql)).rows[0].n);
    const processes = { api, 'metric-aggregator': aggregator, 'budget-enforcer': enforcer, redis: redisServer };

    const r0 = await redisCounters();
    const p0 = await pgCounters();
    const c0 = Object.fromEntries(Object.entries(processes).map(([k, c]) => [k, cpu(c)]));
    const startedAt = Date.now();
    let next = 0;
    const send = async () => {
      while (next < EVENTS) {
        const from = next;
        next += BATCH;
        const metrics = Array.from({ length: Math.min(BATCH, EVENTS - from) }, (_, i) => ({
          event_id: `cap-${from + i}`, model_id: models[(from + i) % models.length], success: (from + i) % 10 !== 0,
          latency_ms: 100 + ((from + i) % 900), prompt_tokens: 200, completion_tokens: 50, cost: 0.0005,
        }));
        const res = await fetch(`http://127.0.0.1:${ports.api}/api/v1/metrics`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ metrics }) });
        if (res.status !== 202) throw new Error(`metrics: ${res.status} ${await res.text()}`);
      }
    };
    await Promise.all([send(), send(), send(), send()]);
    while ((await count('SELECT count(*) AS n FROM model_router.budget_processed_events')) < EVENTS || (await count('SELECT count(*) AS n FROM model_router.metric_events')) < EVENTS) await sleep(100);
    const seconds = (Date.now() - startedAt) / 1000;
    const r1 = await redisCounters();
    const p1 = await pgCounters();
    const per1000 = (d: number) => ((d * 1000) / EVENTS).toFixed(1);
    console.log(`${EVENTS} metric events in batches of ${BATCH}: persisted and counted in ${seconds.toFixed(1)} s`);
    for (const [name, child] of Object.entries(processes)) {
      const used = cpu(child) - c0[name]!;
      console.log(`cpu ${name}: ${used.toFixed(2)} s = ${per1000(used * 1000)} ms per 1,000 events (${((used * 1e6) / EVENTS).toFixed(1)} µs/event)`);
    }
    let commands = 0;
    for (const [name, value] of [...r1].sort((a, b) => b[1] - (r0.get(b[0]) ?? 0) - (a[1] - (r0.get(a[0]) ?? 0)))) {
      const d = value - (r0.get(name) ?? 0);
      if (d <= 0) continue;
      if (!name.startsWith('total_net')) commands += d;
      console.log(`redis ${name}: ${d} (${per1000(d)} per 1,000 events)`);
    }
    console.log(`redis commands in all: ${commands} (${per1000(commands)} per 1,000 events)`);
    for (const key of Object.keys(p1)) console.log(`postgres ${key}: ${Number(p1[key]) - Number(p0[key])} (${per1000(Number(p1[key]) - Number(p0[key]))} per 1,000 events)`);

    // Routes: ROUTES requests, 32 in flight; the API's CPU and Redis commands per 1,000 routes.
    const ROUTES = Number(process.env.CAPACITY_ROUTES ?? 20_000);
    const rr0 = await redisCounters();
    const rc0 = cpu(api);
    const rp0 = await pgCounters();
    let sent = 0;
    const route = async () => {
      while (sent < ROUTES) {
        sent += 1;
        const res = await fetch(`http://127.0.0.1:${ports.api}/api/v1/route`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'How do I sort a list in Python?', max_tokens: 500, user_id: `u${sent % 500}` }) });
        if (res.status !== 200) throw new Error(`route: ${res.status} ${await res.text()}`);
        await res.arrayBuffer();
      }
    };
    await Promise.all(Array.from({ length: 32 }, route));
    while ((await count('SELECT count(*) AS n FROM model_router.route_events')) < ROUTES) await sleep(100);
    const routeCpu = cpu(api) - rc0;
    const rr1 = await redisCounters();
    const rp1 = await pgCounters();
    let routeCommands = 0;
    for (const [name, value] of rr1) if (!name.startsWith('total_net')) routeCommands += value - (rr0.get(name) ?? 0);
    const perRoute = (d: number) => ((d * 1000) / ROUTES).toFixed(1);
    console.log(`${ROUTES} routes (32 in flight), every route event persisted`);
    console.log(`cpu api per route: ${((routeCpu * 1e6) / ROUTES).toFixed(1)} µs (the client, in this process, shares the cores)`);
    console.log(`redis commands per 1,000 routes: ${perRoute(routeCommands)}; bytes in/out per 1,000 routes: ${perRoute(rr1.get('total_net_input_bytes')! - rr0.get('total_net_input_bytes')!)} / ${perRoute(rr1.get('total_net_output_bytes')! - rr0.get('total_net_output_bytes')!)}`);
    for (const key of Object.keys(rp1)) console.log(`postgres per 1,000 routes ${key}: ${perRoute(Number(rp1[key]) - Number(rp0[key]))}`);
    redis.disconnect();
    await pool.end();
  } finally {
    // Services first, Redis (started first) last, each by its own pid.
    for (const child of [...children].reverse()) {
      if (child.exitCode !== null || child.signalCode !== null) continue;
      const exited = new Promise((ok) => child.once('exit', ok));
      child.kill('SIGTERM');
      await Promise.race([exited, sleep(5000)]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
    await admin.end();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
