/**
 * Set-up shared by the system tests that run every service as a process of its own under load
 * (the fault campaign, many replicas, the Redis Cluster test): the services' environment, creating
 * and starting the processes in a rollout's order, calls to an API replica, and the public-API
 * set-up of the consistent-hash A/B test the load's users are assigned in.
 */
import type { LoadGenerator } from './load-generator.js';
import { ServiceProcess, WORKERS, type WorkerKind } from './service-processes.js';
import { waitUntil } from './wait.js';

export interface SystemVarsOptions {
  databaseUrl: string;
  /** `REDIS_URL` for one Redis, `REDIS_CLUSTER_NODES` for a cluster. */
  redis: { REDIS_URL: string } | { REDIS_CLUSTER_NODES: string };
  keyPrefix: string;
  adminKey: string;
  mockPort: number;
  extra?: Record<string, string>;
}

/** The environment every service of the system gets. */
export function systemVars(options: SystemVarsOptions): Record<string, string> {
  return {
    DATABASE_URL: options.databaseUrl,
    ...options.redis,
    REDIS_KEY_PREFIX: options.keyPrefix,
    ADMIN_API_KEY: options.adminKey,
    LOG_LEVEL: 'warn',
    NODE_ENV: 'test',
    CATALOG_ENDPOINT_BASE_URL: `http://127.0.0.1:${options.mockPort}/v1`,
    ...options.extra,
  };
}

export interface ServiceSet {
  mock: ServiceProcess;
  apis: ServiceProcess[];
  workers: Record<WorkerKind, ServiceProcess[]>;
  /** Every process, the mock provider first. */
  all: ServiceProcess[];
}

/**
 * Creates (does not start) the mock provider, `apis` API replicas and `workerReplicas` of each
 * worker; a single replica is named after its kind, several are numbered (`api-1`, `api-2`).
 */
export async function createServiceSet(vars: Record<string, string>, mockPort: number, { apis = 1, workerReplicas = 1 } = {}): Promise<ServiceSet> {
  const named = (kind: string, n: number, of: number): string => (of === 1 ? kind : `${kind}-${n}`);
  const mock = await ServiceProcess.create('mock-provider', 'mock-provider', vars, mockPort);
  const apiProcesses: ServiceProcess[] = [];
  for (let n = 1; n <= apis; n++) apiProcesses.push(await ServiceProcess.create(named('api', n, apis), 'api', vars));
  const workers = {} as Record<WorkerKind, ServiceProcess[]>;
  for (const kind of WORKERS) {
    workers[kind] = [];
    for (let n = 1; n <= workerReplicas; n++) workers[kind].push(await ServiceProcess.create(named(kind, n, workerReplicas), kind, vars));
  }
  return { mock, apis: apiProcesses, workers, all: [mock, ...apiProcesses, ...WORKERS.flatMap((kind) => workers[kind])] };
}

/**
 * Starts the set as a rollout would: the mock provider, then the first API (it migrates and seeds
 * the catalog), then every other process at once.
 */
export async function startServiceSet(set: ServiceSet): Promise<void> {
  await set.mock.start();
  await set.apis[0]!.start();
  await Promise.all([...set.apis.slice(1).map((a) => a.start()), ...WORKERS.flatMap((kind) => set.workers[kind].map((w) => w.start()))]);
}

/** A service that died on its own is a finding: throws at once with its last output. */
export function noCrashes(services: readonly ServiceProcess[]): void {
  const crashed = services.filter((s) => s.unexpectedExits.length);
  if (crashed.length) throw new Error(crashed.map((s) => `${s.unexpectedExits.join('; ')}\n${s.output().slice(-3000)}`).join('\n\n'));
}

export interface ApiAnswer {
  status: number;
  json: any;
}

/** One HTTP call to a service, with the body parsed as JSON. */
export async function callService(baseUrl: string, path: string, init: RequestInit = {}): Promise<ApiAnswer> {
  const res = await fetch(`${baseUrl}${path}`, { ...init, signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
}

/** Waits until `n` more metrics are accepted than now (the load keeps running), failing at once on a crash. */
export async function waitForMoreMetrics(load: LoadGenerator, services: readonly ServiceProcess[], n: number, what: string, timeoutMs: number, detail?: () => string): Promise<void> {
  const target = load.metricsAccepted.size + n;
  await waitUntil(
    () => {
      noCrashes(services);
      return load.metricsAccepted.size >= target;
    },
    { timeoutMs, intervalMs: 50, what: `${what}: ${n} more metrics accepted`, detail },
  );
}

export type CallReplica = (path: string, init?: RequestInit, replica?: number) => Promise<ApiAnswer>;

export interface CatalogModel {
  id: string;
  provider: string;
  input_price_per_1k: number;
}

/**
 * Creates and starts a consistent-hash A/B test between the two cheapest models, through the
 * public API; returns the answers for the test to check.
 */
export async function createCheapestPairAbTest(call: CallReplica, adminHeaders: Record<string, string>, id: string, name: string) {
  const models = (await call('/api/v1/models')).json.models as CatalogModel[];
  const byPrice = [...models].sort((a, b) => a.input_price_per_1k - b.input_price_per_1k || a.id.localeCompare(b.id));
  const variants = [
    { id: 'control', name: 'control', model_id: byPrice[0]!.id, weight: 0.5 },
    { id: 'treatment', name: 'treatment', model_id: byPrice[1]!.id, weight: 0.5 },
  ];
  const created = await call('/api/v1/abtests', {
    method: 'POST',
    headers: adminHeaders,
    body: JSON.stringify({
      id, name, strategy: 'consistent_hash', variants,
      start_time: new Date(Date.now() - 3_600_000).toISOString(), end_time: new Date(Date.now() + 86_400_000).toISOString(),
    }),
  });
  const started = await call(`/api/v1/abtests/${id}/start`, { method: 'POST', headers: adminHeaders });
  return { models, byPrice, variants, created, started };
}

/** Waits until each replica assigns users in the A/B test (the others learn of it through Redis). */
export async function waitForAbAssignment(call: CallReplica, abTestId: string, replicas: readonly number[], what: (replica: number) => string): Promise<void> {
  let warmups = 0;
  for (const replica of replicas) {
    await waitUntil(
      async () => {
        const res = await call(
          '/api/v1/route',
          { method: 'POST', headers: { 'content-type': 'application/json', 'x-request-id': `warmup-${++warmups}` }, body: JSON.stringify({ prompt: 'warm up', user_id: 'warmup-user', enable_ab_test: true, ab_test_id: abTestId }) },
          replica,
        );
        return res.status === 200 && res.json.is_ab_test === true;
      },
      { timeoutMs: 30_000, what: what(replica) },
    );
  }
}
