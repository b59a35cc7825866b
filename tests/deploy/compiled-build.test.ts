/**
 * The compiled production build, started as production (and the image, infra/Dockerfile) starts
 * it: `pnpm build`, then the image's entrypoint (infra/docker/entrypoint.sh): `migrate` applies the
 * migrations from the build, and each service runs as `node dist/main.js` from its folder, with
 * no TypeScript loader and without the `development` export condition the other tests use, in
 * production mode (NODE_ENV=production, its refusals answered), on this test's own (new) database
 * and Redis prefix. The image's health check answers for each.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { adminUrl } from '../support/env.js';
import { SERVICE_PORT_VARIABLES } from '@model-router/config';
import { CLIENT_KEY, createTestEnv, freePort, ROOT, SERVICE_NAMES, type ServiceName, type Spawned, spawnCommand, type TestEnv, waitFor } from '../support/index.js';

const run = promisify(execFile);
const ENTRYPOINT = join(ROOT, 'infra/docker/entrypoint.sh');
const HEALTHCHECK = join(ROOT, 'infra/docker/healthcheck.mjs');

/** The environment of a production process: no loader, no development condition. */
function productionEnv(base: NodeJS.ProcessEnv, extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base, NODE_ENV: 'production', LOG_LEVEL: 'warn', ...extra };
  delete env.NODE_OPTIONS;
  // The entrypoint runs `node` from PATH, as the image does: the same pinned Node as this test.
  env.PATH = `${dirname(process.execPath)}:${env.PATH ?? ''}`;
  return env;
}

let env: TestEnv;
let databaseUrl: string;
const ports = {} as Record<ServiceName, number>;
const started: Partial<Record<ServiceName, Spawned>> = {};
let migrateOutput = '';

beforeAll(async () => {
  // The repository's own build command, exactly as the Dockerfile runs it.
  await run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '--build', 'tsconfig.build.json'], {
    cwd: ROOT,
    maxBuffer: 16 * 1024 * 1024,
  });
  env = await createTestEnv();
  // A database that does not exist yet: the build's migrate command creates and migrates it.
  // Its name starts with the run's test prefix, so the global teardown drops it with the rest.
  databaseUrl = env.databaseUrl.replace(/\/([^/?]+)(\?|$)/, '/$1_fresh$2');
}, 300_000);

afterAll(async () => {
  for (const process of Object.values(started)) await process.stop('SIGKILL');
  if (databaseUrl) {
    const admin = new pg.Client({ connectionString: adminUrl() });
    await admin.connect();
    try {
      await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(new URL(databaseUrl).pathname.slice(1))} WITH (FORCE)`);
    } finally {
      await admin.end();
    }
  }
  await env?.cleanup();
}, 90_000);

function serviceEnv(): NodeJS.ProcessEnv {
  const urls = Object.fromEntries(SERVICE_NAMES.map((name) => [SERVICE_PORT_VARIABLES[name], String(ports[name])]));
  return productionEnv(env.processEnv(), {
    ...urls,
    DATABASE_URL: databaseUrl,
    CATALOG_ENDPOINT_BASE_URL: `http://127.0.0.1:${ports['mock-provider']}/v1`,
    // Production mode's refusals, answered as a deployment does: a client key of its own, and for
    // this machine's volatile Redis and the mock provider on loopback, the explicit opt-ins.
    CLIENT_API_KEY: CLIENT_KEY,
    REDIS_ALLOW_VOLATILE: 'true',
    ALLOW_PRIVATE_ENDPOINTS: 'true',
  });
}

describe('the compiled build', () => {
  it('puts a dist/main.js in every service and a dist/index.js in every package', () => {
    for (const folder of ['services', 'packages']) {
      for (const name of readdirSync(join(ROOT, folder))) {
        const manifest = JSON.parse(readFileSync(join(ROOT, folder, name, 'package.json'), 'utf8')) as { exports: Record<string, { default: string }> };
        for (const target of Object.values(manifest.exports)) {
          expect(readFileSync(join(ROOT, folder, name, target.default), 'utf8').length).toBeGreaterThan(0);
        }
        if (folder === 'services') expect(readFileSync(join(ROOT, folder, name, 'dist/main.js'), 'utf8')).toContain('import');
      }
    }
  });

  it('resolves every workspace package of every service to its compiled dist/ (no condition set)', async () => {
    for (const service of readdirSync(join(ROOT, 'services'))) {
      const cwd = join(ROOT, 'services', service);
      const manifest = JSON.parse(readFileSync(join(cwd, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
      const workspace = Object.keys(manifest.dependencies ?? {}).filter((name) => name.startsWith('@model-router/'));
      expect(workspace.length).toBeGreaterThan(0);
      const script = `for (const name of ${JSON.stringify(workspace)}) console.log(import.meta.resolve(name));`;
      const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd, env: productionEnv(process.env, {}) });
      const resolved = stdout.trim().split('\n');
      expect(resolved).toHaveLength(workspace.length);
      for (const url of resolved) expect(url).toMatch(/\/dist\/[\w-]+\.js$/);
    }
  });

  it("applies every migration to a new database from the build (the entrypoint's `migrate`)", async () => {
    const result = await run(ENTRYPOINT, ['migrate'], {
      cwd: ROOT,
      env: productionEnv(env.processEnv(), { DATABASE_URL: databaseUrl }),
    });
    migrateOutput = result.stdout;
    const files = readdirSync(join(ROOT, 'migrations')).filter((f) => f.endsWith('.sql'));
    const pool = new pg.Pool({ connectionString: databaseUrl, max: 1 });
    try {
      const { rows } = await pool.query<{ name: string }>('SELECT name FROM pgmigrations ORDER BY run_on, id');
      expect(rows.map((r) => `${r.name}.sql`).sort()).toEqual(files.sort());
    } finally {
      await pool.end();
    }
    expect(migrateOutput).toContain('up:');
  }, 60_000);

  it('rejects an unknown service name (exit 64, the names listed)', async () => {
    const failed = await run(ENTRYPOINT, ['no-such-service'], { env: productionEnv(process.env, {}) }).then(
      () => null,
      (error: { code?: number; stderr?: string }) => error,
    );
    expect(failed?.code).toBe(64);
    expect(failed?.stderr).toContain('metric-aggregator');
  });

  it('starts every service through the entrypoint (by argument or $SERVICE), each ready on its port', async () => {
    // Ports picked right before the start: a port found free long before may since have become the
    // local port of some outgoing connection (they come from the same ephemeral range).
    for (const name of SERVICE_NAMES) ports[name] = await freePort();
    const envOfServices = serviceEnv();
    // The mock provider first: the API seeds the catalog with endpoints on it. The API is chosen by
    // $SERVICE, the others by argument: both ways the image documents.
    for (const name of ['mock-provider', ...SERVICE_NAMES.filter((n) => n !== 'mock-provider')] as ServiceName[]) {
      started[name] =
        name === 'api'
          ? spawnCommand(ENTRYPOINT, [], { cwd: ROOT, env: { ...envOfServices, SERVICE: 'api' } })
          : spawnCommand(ENTRYPOINT, [name], { cwd: ROOT, env: envOfServices });
    }
    for (const name of SERVICE_NAMES) {
      const path = name === 'mock-provider' ? '/healthz' : '/readyz';
      await waitFor(
        async () => {
          if (started[name]!.child.exitCode !== null) throw new Error(`${name} exited:\n${started[name]!.output()}`);
          return fetch(`http://127.0.0.1:${ports[name]}${path}`).then(
            (res) => res.status,
            () => 0,
          );
        },
        (status) => status === 200,
        { timeoutMs: 60_000, intervalMs: 100, what: `${name} ${path}` },
      );
    }
  }, 120_000);

  it("answers the image's health check for each service", async () => {
    // As Docker runs it (--retries=3): healthy when one of three consecutive checks passes, so a
    // single slow answer on a loaded machine does not mark a ready service unhealthy.
    for (const name of SERVICE_NAMES) {
      const failures: string[] = [];
      for (let attempt = 0; attempt < 3; attempt += 1) {
        const outcome = await run(process.execPath, [HEALTHCHECK], { env: { ...serviceEnv(), SERVICE: name } }).then(
          ({ stderr }) => stderr,
          (error: { stderr?: string; message: string }) => error.stderr || error.message,
        );
        if (outcome === '') break;
        failures.push(outcome);
      }
      expect({ name, failures: failures.length < 3 ? [] : failures }).toEqual({ name, failures: [] });
    }
    // And fails for a service that is not running (the health-checker's port with nothing on it).
    const down = await run(process.execPath, [HEALTHCHECK], { env: { ...serviceEnv(), SERVICE: 'health-checker', HEALTH_CHECKER_PORT: String(await freePort()) } }).then(
      () => 0,
      (error: { code?: number }) => error.code,
    );
    expect(down).toBe(1);
  });

  it('runs each service as `node dist/main.js` in its folder: no TypeScript loader, no development condition', () => {
    for (const name of SERVICE_NAMES) {
      // exec in the entrypoint: the process started is node itself.
      const pid = started[name]!.child.pid!;
      const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
      expect(args.slice(1)).toEqual(['dist/main.js']);
      expect(readlinkSync(`/proc/${pid}/cwd`)).toBe(join(ROOT, 'services', name));
      const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
      expect(environ.filter((line) => line.startsWith('NODE_OPTIONS='))).toEqual([]);
    }
  });

  it('routes a request and carries a reported metric through the compiled aggregator to Postgres', async () => {
    const api = `http://127.0.0.1:${ports.api}`;
    const headers = { 'content-type': 'application/json', authorization: `Bearer ${CLIENT_KEY}` };
    const route = await fetch(`${api}/api/v1/route`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ prompt: 'hello', max_tokens: 100, strategy: 'cheapest' }),
    });
    expect(route.status).toBe(200);
    expect(((await route.json()) as { model_id?: unknown }).model_id).toEqual(expect.any(String));

    const post = await fetch(`${api}/api/v1/metrics`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ model_id: 'gpt-4o', success: true, latency_ms: 123, prompt_tokens: 5, completion_tokens: 7, event_id: 'dist-metric-1' }),
    });
    expect(post.status).toBe(202);
    const pool = new pg.Pool({ connectionString: databaseUrl, max: 1 });
    try {
      const rows = await waitFor(
        async () => (await pool.query(`SELECT latency_ms FROM model_router.metric_events WHERE event_id = 'dist-metric-1'`)).rows,
        (found) => found.length > 0,
        { timeoutMs: 20_000, intervalMs: 100, what: 'the metric row' },
      );
      expect(rows).toEqual([{ latency_ms: 123 }]);
    } finally {
      await pool.end();
    }
  }, 60_000);

  it('stops every service gracefully on SIGTERM (exit 0)', async () => {
    const codes: Record<string, number | null> = {};
    for (const name of SERVICE_NAMES) {
      codes[name] = await started[name]!.stop('SIGTERM');
      delete started[name];
    }
    expect(codes).toEqual(Object.fromEntries(SERVICE_NAMES.map((name) => [name, 0])));
  }, 90_000);
});
