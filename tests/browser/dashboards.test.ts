/**
 * The operators' views in a real browser (Debian's Chromium driven by playwright-core): the queue
 * dashboard lists every queue, the operator page shows the seeded models and a running A/B test's
 * chart and refreshes itself, lists the API keys with today's usage, the read-only key can look but
 * not change, and no key gets nothing.
 * Screenshots go to .artifacts/screenshots/.
 */
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startApi, type RunningApi } from '@model-router/api';
import { startHealthChecker } from '@model-router/health-checker';
import { createLogger } from '@model-router/logger';
import { startMetricAggregator } from '@model-router/metric-aggregator';
import { QUEUE_NAMES } from '@model-router/queue';
import type { RunningService } from '@model-router/service-runtime';
import { type Browser, type BrowserContext, chromium } from 'playwright-core';
import { ADMIN_KEY, createTestEnv, type TestEnv } from '../support/index.js';

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOTS = fileURLToPath(new URL('../../.artifacts/screenshots/', import.meta.url));
const READONLY_KEY = 'test-readonly-key-0123456789';
const ADMIN_JSON = { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' };

let env: TestEnv;
let api: RunningApi;
let aggregator: RunningService;
let checker: RunningService;
let browser: Browser;
/** A stored API key (tenant) with usage today, and one created but never used. */
let supportKeyId: string;
let idleKeyId: string;

const basic = (password: string) => ({ httpCredentials: { username: 'operator', password } });

async function withContext<T>(options: Parameters<Browser['newContext']>[0], use: (context: BrowserContext) => Promise<T>): Promise<T> {
  const context = await browser.newContext({ viewport: { width: 1440, height: 1000 }, ...options });
  try {
    return await use(context);
  } finally {
    await context.close();
  }
}

async function post(path: string, body: unknown, headers: Record<string, string> = ADMIN_JSON): Promise<Response> {
  return fetch(`${api.url}${path}`, { method: 'POST', headers, body: JSON.stringify(body) });
}

beforeAll(async () => {
  mkdirSync(SCREENSHOTS, { recursive: true });
  env = await createTestEnv();
  const config = env.config({
    'auth.readonly_api_key': READONLY_KEY,
    'workers.health_checker.probe_interval': 300,
    // The down model's circuit stays open while the pages are looked at: with the default 5 s
    // cooldown it turned half-open every 5 s until the next failed probe reached this API, and a
    // page drawn in that moment showed the row as degraded/half-open.
    'circuit_breaker.cooldown': 600_000,
  });
  const logger = createLogger('browser-test', 'error');
  api = await startApi(config, logger);
  aggregator = await startMetricAggregator(config, { logger, opsPort: 0 });
  // Probes: every provider answers but one model's endpoint is down, so the page has a red row.
  checker = await startHealthChecker(config, {
    logger,
    opsPort: 0,
    fetch: async (url) => (String(url).endsWith('/models/gpt-4.1') ? new Response('down', { status: 503 }) : new Response('{}', { status: 200 })),
  });

  // A running test with results: the control succeeds more often and answers faster.
  const test = {
    id: 'ui_ab',
    name: 'Cheaper model for support answers',
    variants: [
      { id: 'control', model_id: 'gpt-4o', weight: 0.5 },
      { id: 'candidate', model_id: 'gpt-4o-mini', weight: 0.5 },
    ],
    created_by: 'ops',
  };
  expect((await post('/api/v1/abtests', test)).status).toBe(201);
  expect((await post('/api/v1/abtests/ui_ab/start', {})).status).toBe(200);
  const metrics = Array.from({ length: 120 }, (_, i) => {
    const control = i % 2 === 0;
    return {
      variant_id: control ? 'control' : 'candidate',
      user_id: `user-${i % 40}`,
      success: control ? i % 10 !== 0 : i % 4 !== 1,
      latency_ms: (control ? 420 : 610) + ((i * 37) % 150),
      prompt_tokens: 200,
      completion_tokens: 300,
    };
  });
  expect((await post('/api/v1/abtests/ui_ab/metrics', { metrics })).status).toBe(202);
  expect((await post('/api/v1/budgets', { id: 'daily-global', name: 'All traffic, daily', scope: 'global', period: 'daily', limit_usd: 50, action: 'alert_only' })).status).toBe(201);

  // Two API keys: one reports three calls today ($0.0125 and 1,350 tokens in all), one is unused.
  const support = await post('/api/v1/keys', { name: 'Support bot', allowed_models: ['gpt-4o-mini'], rpm: 600 });
  expect(support.status).toBe(201);
  const supportKey = (await support.json()) as { id: string; secret: string };
  supportKeyId = supportKey.id;
  const idle = await post('/api/v1/keys', { name: 'Batch jobs', allowed_providers: ['anthropic'], tpm: 100000 });
  expect(idle.status).toBe(201);
  idleKeyId = ((await idle.json()) as { id: string }).id;
  const keyed = [0.002, 0.0045, 0.006].map((cost, i) => ({ model_id: 'gpt-4o-mini', success: true, latency_ms: 300, prompt_tokens: 200 + i * 50, completion_tokens: 200, cost }));
  expect((await post('/api/v1/metrics', { metrics: keyed }, { authorization: `Bearer ${supportKey.secret}`, 'content-type': 'application/json' })).status).toBe(202);

  // The chart needs the persisted rollups.
  const started = Date.now();
  while (Date.now() - started < 20_000) {
    const res = await fetch(`${api.url}/api/v1/abtests/ui_ab/results`, { headers: ADMIN_JSON });
    const body = (await res.json()) as { results: Record<string, { request_count: number }> };
    if (body.results.control?.request_count === 60 && body.results.candidate?.request_count === 60) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  // …the key's metrics…
  while (Date.now() - started < 20_000) {
    const res = await fetch(`${api.url}/api/v1/usage?group_by=key`, { headers: ADMIN_JSON });
    const rows = ((await res.json()) as { rows: Array<{ key: string; request_count: number }> }).rows;
    if (rows.find((r) => r.key === supportKeyId)?.request_count === 3) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  // …and the probes' verdicts on this API's snapshot.
  while (Date.now() - started < 20_000 && api.snapshots.current.runtime.get('gpt-4.1')?.circuit !== 'open') {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    // As root, in a sandboxed machine with no network: no sandbox, no GPU, no background traffic.
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync'],
  });
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await Promise.allSettled([checker?.stop(), aggregator?.stop()]);
  await api?.stop();
  await env?.cleanup();
});

describe('without a key', () => {
  it.each(['/admin', '/admin/queues', '/admin/api/overview'])('%s is refused: a Basic challenge the browser cannot answer, and nothing shown', async (path) => {
    await withContext({}, async (context) => {
      const page = await context.newPage();
      // Headless Chromium has no login prompt to show: it gives up on the 401 challenge.
      await expect(page.goto(`${api.url}${path}`)).rejects.toThrow(/ERR_INVALID_AUTH_CREDENTIALS/);
      // The answer itself, read without a browser: 401, the challenge, the error envelope only.
      const res = await context.request.get(`${api.url}${path}`);
      expect(res.status()).toBe(401);
      expect(res.headers()['www-authenticate']).toMatch(/^Basic realm=/);
      const body = (await res.json()) as { error: { code: string } };
      expect(Object.keys(body)).toEqual(['error']);
      expect(body.error.code).toBe('UNAUTHORIZED');
    });
  });

  it('a wrong key is refused (403)', async () => {
    await withContext(basic('not-the-key-at-all-0123'), async (context) => {
      const page = await context.newPage();
      expect((await page.goto(`${api.url}/admin`))?.status()).toBe(403);
      expect((await page.goto(`${api.url}/admin/queues`))?.status()).toBe(403);
    });
  });
});

describe('the queue dashboard (bull-board)', () => {
  it('lists every queue of the catalog for the admin key', async () => {
    await withContext(basic(ADMIN_KEY), async (context) => {
      const page = await context.newPage();
      expect((await page.goto(`${api.url}/admin/queues`))?.status()).toBe(200);
      for (const queue of QUEUE_NAMES) await page.getByText(queue, { exact: true }).first().waitFor({ timeout: 15_000 });
      await page.screenshot({ path: `${SCREENSHOTS}queue-dashboard.png`, fullPage: true });
    });
  });

  it('opens read-only for the read-only key, which cannot change a queue', async () => {
    await withContext(basic(READONLY_KEY), async (context) => {
      const page = await context.newPage();
      expect((await page.goto(`${api.url}/admin/queues`))?.status()).toBe(200);
      for (const queue of QUEUE_NAMES) await page.getByText(queue, { exact: true }).first().waitFor({ timeout: 15_000 });
      await page.screenshot({ path: `${SCREENSHOTS}queue-dashboard-readonly.png`, fullPage: true });
    });
    const write = await fetch(`${api.url}/admin/queues/api/queues/metric-events/retry/failed`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${READONLY_KEY}` },
    });
    expect(write.status).toBe(403);
    expect(((await write.json()) as { error: { code: string } }).error.code).toBe('FORBIDDEN');
  });
});

describe('the operator page (/admin)', () => {
  it('shows the seeded models, the running test with its chart, budgets and queues, and refreshes itself', async () => {
    await withContext(basic(ADMIN_KEY), async (context) => {
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('pageerror', (error) => errors.push(error.message));
      page.on('console', (message) => {
        if (message.type() === 'error') errors.push(message.text());
      });
      const res = await page.goto(`${api.url}/admin`);
      expect(res?.status()).toBe(200);
      expect(res?.headers()['content-security-policy']).toContain("script-src 'nonce-");

      const seeded = api.snapshots.current.models.map((m) => m.id).sort();
      const shown = await page.locator('[data-testid=model-row]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-model-id')));
      expect([...shown].sort()).toEqual(seeded);

      const chart = page.locator('[data-testid=abtest][data-test-id=ui_ab] [data-testid=abtest-chart]');
      await expect(chart.locator('[data-testid=forest]').count()).resolves.toBe(2);
      // A point for each of the two variants in each of the two panels, each with its interval.
      await expect(chart.locator('[data-testid=variant-point]').count()).resolves.toBe(4);
      const titles = await chart.locator('[data-testid=variant-point] title').allTextContents();
      expect(titles.filter((t) => t.startsWith('control: ')).length).toBe(2);
      expect(titles.every((t) => /\[.+, .+\]/.test(t))).toBe(true);

      await page.locator('[data-testid=budget][data-budget-id=daily-global]').waitFor();
      const down = page.locator('[data-testid=model-row][data-model-id="gpt-4.1"]');
      await expect(down.textContent()).resolves.toMatch(/unhealthy.*open/);
      for (const queue of QUEUE_NAMES) await page.locator(`[data-testid=queue-row][data-queue="${queue}"]`).waitFor();

      // The inline script polls the overview with the same credentials and re-renders.
      const refreshed = await page.waitForResponse((r) => r.url().endsWith('/admin/api/overview'), { timeout: 15_000 });
      expect(refreshed.status()).toBe(200);
      await page.waitForFunction(() => !(globalThis as unknown as { document: { getElementById(id: string): { className: string } | null } }).document.getElementById('status')?.className.includes('bad'));
      await expect(page.locator('[data-testid=variant-point]').count()).resolves.toBe(4);
      expect(errors).toEqual([]);
      await page.screenshot({ path: `${SCREENSHOTS}operator-page.png`, fullPage: true });
    });
  });

  it("lists the API keys with today's requests, tokens and cost", async () => {
    await withContext(basic(ADMIN_KEY), async (context) => {
      const page = await context.newPage();
      expect((await page.goto(`${api.url}/admin`))?.status()).toBe(200);
      const support = page.locator(`[data-testid=key-row][data-key-id="${supportKeyId}"]`);
      await expect(support.textContent()).resolves.toMatch(/Support bot.*enabled.*models: gpt-4o-mini.*600 rpm/);
      await expect(support.locator('[data-testid=key-requests]').textContent()).resolves.toBe('3');
      await expect(support.locator('[data-testid=key-tokens]').textContent()).resolves.toBe('1350');
      await expect(support.locator('[data-testid=key-cost]').textContent()).resolves.toBe('$0.0125');
      const idle = page.locator(`[data-testid=key-row][data-key-id="${idleKeyId}"]`);
      await expect(idle.textContent()).resolves.toMatch(/Batch jobs.*providers: anthropic.*100000 tpm/);
      await expect(idle.locator('[data-testid=key-requests]').textContent()).resolves.toBe('0');
      // The A/B metrics above were sent before any key existed (open endpoints): tenant "default".
      const open = page.locator('[data-testid=key-row][data-key-id=default]');
      await expect(open.textContent()).resolves.toMatch(/configured/);
      await expect(open.locator('[data-testid=key-requests]').textContent()).resolves.toBe('120');
      // The busiest (by cost) first: the stored key with spend comes before the idle one.
      const order = await page.locator('[data-testid=key-row]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-key-id')));
      expect(order.indexOf(supportKeyId)).toBeLessThan(order.indexOf(idleKeyId));
      await page.locator('[data-testid=keys]').screenshot({ path: `${SCREENSHOTS}operator-page-keys.png` });
    });
  });

  it('opens for the read-only key', async () => {
    await withContext(basic(READONLY_KEY), async (context) => {
      const page = await context.newPage();
      expect((await page.goto(`${api.url}/admin`))?.status()).toBe(200);
      await expect(page.locator('[data-testid=model-row]').count()).resolves.toBe(api.snapshots.current.models.length);
    });
  });
});
