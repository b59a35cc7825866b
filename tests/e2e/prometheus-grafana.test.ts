/**
 * The operators' Prometheus and Grafana configuration, checked against a real Prometheus (Debian's
 * `prometheus` package; `.ci/run` installs it) scraping the system that `make up` starts:
 * - infra/prometheus/prometheus.yml, with its compose host names replaced by this test's ports,
 *   scrapes every process of the system, and every target is up;
 * - every query of the Grafana dashboard (infra/grafana/dashboards/model-router.json) is valid
 *   PromQL that Prometheus evaluates, and the panels fed by the traffic made here show data.
 * Docker is not available on the machines this runs on, so this stands in for `docker compose up`:
 * the same scrape config and the same queries, a different Prometheus build (2.42 here, v3 in compose).
 */
import { spawn, type ChildProcess, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import YAML from 'yaml';
import { createTestEnv, freePort, ROOT, type RunningSystem, SERVICE_NAMES, startSystem, type TestEnv, waitForDefined } from '../support/index.js';

const PROMETHEUS = '/usr/bin/prometheus';
/** Route requests made by this test (the decision counters must add up to it). */
const ROUTES = 20;

interface ScrapeConfig {
  job_name: string;
  static_configs: Array<{ targets: string[] }>;
  [key: string]: unknown;
}

interface PromResult {
  status: 'success' | 'error';
  error?: string;
  data: { resultType: string; result: Array<{ metric: Record<string, string>; value: [number, string] }> };
}

let env: TestEnv;
let system: RunningSystem;
let prometheus: ChildProcess;
let promUrl: string;
let workDir: string;
let promLog = '';
let scrapedJobs: string[];

/** Our compose host names → this test's ports; targets with no process here (the collector) go. */
function localScrapeConfig(): string {
  const config = YAML.parse(readFileSync(join(ROOT, 'infra/prometheus/prometheus.yml'), 'utf8')) as {
    global: Record<string, unknown>;
    scrape_configs: ScrapeConfig[];
  };
  const local = new Map<string, string>(SERVICE_NAMES.map((name) => [name, new URL(system.urls[name]).host]));
  config.global = { ...config.global, scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' };
  config.scrape_configs = config.scrape_configs
    .map((job) => ({
      ...job,
      static_configs: job.static_configs.map((group) => ({
        ...group,
        targets: group.targets.map((target) => local.get(target.split(':')[0]!)).filter((t): t is string => t !== undefined),
      })),
    }))
    .filter((job) => job.static_configs.some((group) => group.targets.length > 0));
  scrapedJobs = config.scrape_configs.map((job) => job.job_name);
  return YAML.stringify(config);
}

async function query(expr: string): Promise<PromResult> {
  const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
  return (await res.json()) as PromResult;
}

/** Polls Prometheus (or the system) until `read` gives a value; a timeout shows Prometheus's log. */
const eventually = <T>(what: string, read: () => Promise<T | undefined>, timeoutMs = 45_000) =>
  waitForDefined(read, { what, timeoutMs, intervalMs: 500, detail: () => `Prometheus log:\n${promLog.slice(-3000)}` });

/** Grafana's variables, as Grafana would expand them for a short time range. */
const expand = (expr: string): string => expr.replaceAll('$__rate_interval', '30s').replaceAll('$__range', '5m').replaceAll('$__interval', '5s');

function dashboardQueries(): Array<{ panel: string; expr: string }> {
  const dashboard = JSON.parse(readFileSync(join(ROOT, 'infra/grafana/dashboards/model-router.json'), 'utf8')) as {
    panels: Array<{ title: string; targets?: Array<{ expr?: string }> }>;
  };
  return dashboard.panels.flatMap((panel) => (panel.targets ?? []).filter((t) => t.expr).map((t) => ({ panel: panel.title, expr: t.expr! })));
}

beforeAll(async () => {
  // A missing binary is a broken setup, not a reason to skip: .ci/run installs it.
  execFileSync(PROMETHEUS, ['--version'], { stdio: 'ignore' });
  env = await createTestEnv();
  system = await startSystem(env);
  workDir = mkdtempSync(join(tmpdir(), 'mr-prometheus-'));
  const configFile = join(workDir, 'prometheus.yml');
  writeFileSync(configFile, localScrapeConfig());
  execFileSync('/usr/bin/promtool', ['check', 'config', configFile], { stdio: 'pipe' });
  const port = await freePort();
  promUrl = `http://127.0.0.1:${port}`;
  prometheus = spawn(
    PROMETHEUS,
    [`--config.file=${configFile}`, `--storage.tsdb.path=${join(workDir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  prometheus.stdout!.on('data', (chunk: Buffer) => (promLog += chunk.toString()));
  prometheus.stderr!.on('data', (chunk: Buffer) => (promLog += chunk.toString()));
  await eventually('Prometheus to be ready', async () => {
    try {
      return (await fetch(`${promUrl}/-/ready`)).ok ? true : undefined;
    } catch {
      return undefined;
    }
  });

  // Traffic for the panels, made while Prometheus scrapes (rates and quantiles need a counter that
  // moves between two scrapes): two waves of routes and metrics, 2.5 s apart, and a 404.
  await eventually('the first scrape of every target', async () => ((await query('up')).data.result.length === SERVICE_NAMES.length ? true : undefined));
  for (const wave of [0, 1]) {
    if (wave) await new Promise((resolve) => setTimeout(resolve, 2500));
    for (let i = 0; i < ROUTES / 2; i++) {
      const route = await fetch(`${system.apiUrl}/api/v1/route`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ prompt: `question ${wave}-${i}`, max_tokens: 100, strategy: i % 2 ? 'cheapest' : 'fastest' }),
      });
      expect(route.status).toBe(200);
    }
    const metrics = await fetch(`${system.apiUrl}/api/v1/metrics`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ metrics: Array.from({ length: 10 }, (_, i) => ({ model_id: 'gpt-4o', success: i !== 0, latency_ms: 100 + i })) }),
    });
    expect(metrics.status).toBe(202);
  }
  expect((await fetch(`${system.apiUrl}/api/v1/nothing-here`)).status).toBe(404);
}, 180_000);

afterAll(async () => {
  prometheus?.kill('SIGTERM');
  await system?.process.stop('SIGTERM');
  await env?.cleanup();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
}, 60_000);

describe('Prometheus scraping the running system with infra/prometheus/prometheus.yml', () => {
  it('scrapes every process of the system, and every target is up', async () => {
    expect(scrapedJobs).toEqual(expect.arrayContaining(['model-router-api', 'model-router-workers', 'model-router-mock-provider']));
    const targets = await eventually('every target to be scraped', async () => {
      const up = await query('up');
      const healthy = up.data.result.filter((r) => r.value[1] === '1');
      return healthy.length === SERVICE_NAMES.length && up.data.result.length === SERVICE_NAMES.length ? up.data.result : undefined;
    });
    const expected = SERVICE_NAMES.map((name) => new URL(system.urls[name]).host).sort();
    expect(targets.map((t) => t.metric.instance).sort()).toEqual(expected);
  });

  it('sees each process under its own service label', async () => {
    const services = await eventually('the process metrics of every service', async () => {
      const result = await query('count by (service) (model_router_process_cpu_seconds_total)');
      return result.data.result.length >= SERVICE_NAMES.length ? result.data.result.map((r) => r.metric.service).sort() : undefined;
    });
    expect(services).toEqual(expect.arrayContaining(['api', 'metric-aggregator', 'health-checker', 'cache-invalidator', 'budget-enforcer']));
  });
});

describe("the Grafana dashboard's queries on that Prometheus", () => {
  it('are all valid PromQL that Prometheus evaluates', async () => {
    const queries = dashboardQueries();
    expect(queries.length).toBeGreaterThanOrEqual(20);
    const failures: string[] = [];
    for (const { panel, expr } of queries) {
      const result = await query(expand(expr));
      if (result.status !== 'success') failures.push(`${panel}: ${result.error}`);
    }
    expect(failures).toEqual([]);
  });

  it.each([
    ['Route decisions / s by strategy', ['strategy']],
    ['API requests / s by route and status', ['route', 'status']],
    ['Events persisted / s', ['event', 'outcome']],
    ['Queue depth (waiting, delayed, active)', ['queue', 'state']],
    ['CPU (cores) by service', ['service']],
    ['Heap used by service', ['service']],
    ['Decision time (µs)', []],
  ])('"%s" shows data from the traffic made here', async (panel, labels) => {
    const { expr } = dashboardQueries().find((q) => q.panel === panel)!;
    const series = await eventually(`data for "${panel}"`, async () => {
      const result = await query(expand(expr));
      const values = result.data.result.filter((r) => Number.isFinite(Number(r.value[1])));
      return values.length > 0 ? values : undefined;
    });
    for (const s of series) for (const label of labels) expect(s.metric[label]).toEqual(expect.any(String));
  });

  it('counts the routes made here: decisions by strategy add up to the requests', async () => {
    const total = await eventually('the route decision counters', async () => {
      const result = await query('sum(model_router_route_decisions_total)');
      const value = Number(result.data.result[0]?.value[1]);
      return value >= ROUTES ? value : undefined;
    });
    expect(total).toBe(ROUTES);
  });
});
