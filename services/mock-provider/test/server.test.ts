import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type RunningMockProvider, startMockProvider } from '../src/index.js';
import { logger, sequence } from './helpers.js';

const SERVICE_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const post = (url: string, body: unknown) =>
  fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
const chat = (model: string) => ({ model, messages: [{ role: 'user', content: 'ping' }] });

describe('startMockProvider (real HTTP on a free port)', () => {
  let mock: RunningMockProvider;
  beforeAll(async () => {
    mock = await startMockProvider({
      port: 0,
      logger,
      random: sequence(0.5),
      initial: { defaults: { latency_ms: 0 }, models: { 'gpt-4o': {} } },
    });
  });
  afterAll(async () => {
    await mock.stop();
  });

  it('listens on a free port and serves /v1/models', async () => {
    expect(mock.port).toBeGreaterThan(0);
    expect(mock.url).toBe(`http://127.0.0.1:${mock.port}`);
    const res = await fetch(`${mock.url}/v1/models`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ object: 'list', data: [{ id: 'gpt-4o', object: 'model' }] });
  });

  it('serves /healthz, /readyz and /metrics', async () => {
    expect(await (await fetch(`${mock.url}/healthz`)).json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${mock.url}/readyz`);
    expect(ready.status).toBe(200);
    const metrics = await (await fetch(`${mock.url}/metrics`)).text();
    expect(metrics).toContain('service="mock-provider"');
  });

  it('answers a chat completion over HTTP, and applies settings changed on the returned store', async () => {
    const res = await post(mock.url, chat('gpt-4o'));
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ object: 'chat.completion', model: 'gpt-4o' });

    mock.settings.set('gpt-4o', { latency_ms: 120 });
    const started = performance.now();
    expect((await post(mock.url, chat('gpt-4o'))).status).toBe(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(120);

    mock.settings.set('gpt-4o', { down: true });
    expect((await post(mock.url, chat('gpt-4o'))).status).toBe(503);
    expect((await fetch(`${mock.url}/v1/models/gpt-4o`)).status).toBe(503);
    mock.settings.resetAll();
    expect((await fetch(`${mock.url}/v1/models/gpt-4o`)).status).toBe(200);
  });
});

describe('stop', () => {
  it('lets an in-flight request finish, then refuses new connections', async () => {
    const mock = await startMockProvider({ port: 0, logger, initial: { defaults: { latency_ms: 300 } } });
    const inFlight = post(mock.url, chat('slow'));
    await new Promise((r) => setTimeout(r, 50)); // the request has arrived and is waiting its latency
    const stopped = mock.stop();
    const res = await inFlight;
    expect(res.status).toBe(200);
    expect(((await res.json()) as { object: string }).object).toBe('chat.completion');
    await stopped;
    await expect(fetch(`${mock.url}/healthz`)).rejects.toThrow();
    await mock.stop(); // a second stop is harmless
  });
});

/** A config file of this test's own, so edits to configs/model-router.yaml cannot break it. */
let configDir: string;
let configPath: string;
beforeAll(() => {
  configDir = mkdtempSync(resolve(tmpdir(), 'mock-provider-test-'));
  configPath = resolve(configDir, 'model-router.yaml');
  writeFileSync(configPath, 'auth:\n  admin_api_key: test-admin-key-0123456789\nmock_provider:\n  host: 127.0.0.1\n  port: 9010\n');
});
afterAll(() => rmSync(configDir, { recursive: true, force: true }));

/** Starts the service's source (node --import tsx src/main.ts: no tsx CLI in between, whose signal relay
 * exits 143 when SIGTERM arrives before it has heard of the child's handler — seen under load) and resolves with its first JSON log line. */
async function startProcess(env: Record<string, string>): Promise<{ child: ChildProcess; firstLine: Record<string, unknown> | null; stderr: () => string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: SERVICE_DIR,
    env: { ...process.env, MODEL_ROUTER_CONFIG: configPath, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const lines = createInterface({ input: child.stdout! });
  const firstLine = await new Promise<Record<string, unknown> | null>((resolveLine) => {
    lines.once('line', (line) => resolveLine(JSON.parse(line) as Record<string, unknown>));
    child.once('close', () => resolveLine(null));
  });
  return { child, firstLine, stderr: () => stderr };
}

describe('the process (src/main.ts)', () => {
  it('starts from the config (port from MOCK_PROVIDER_PORT) and MOCK_PROVIDER_MODELS, and exits 0 on SIGTERM', async () => {
    const { child, firstLine, stderr } = await startProcess({
      MOCK_PROVIDER_PORT: '0',
      MOCK_PROVIDER_MODELS: JSON.stringify({ 'gpt-4o': { latency_ms: 1 }, '*': { latency_ms: 0 } }),
    });
    try {
      expect(stderr()).toBe('');
      expect(firstLine).toMatchObject({ msg: 'mock provider listening', service: 'mock-provider', configured_models: 1 });
      const url = firstLine!.url as string;
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const models = (await (await fetch(`${url}/v1/models`)).json()) as { data: Array<{ id: string }> };
      expect(models.data.map((m) => m.id)).toEqual(['gpt-4o']);
      expect((await post(url, chat('gpt-4o'))).status).toBe(200);
    } finally {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const [code] = await exited;
      expect(code).toBe(0);
    }
  });

  it('refuses, in production mode, a control API that would take the development key, naming the setting (exit 78)', async () => {
    const { child, stderr } = await startProcess({ MOCK_PROVIDER_PORT: '0', NODE_ENV: 'production', ADMIN_API_KEY: 'dev-admin-key-change-me' });
    const code = child.exitCode ?? (await once(child, 'close'))[0];
    expect(code).toBe(78);
    expect(stderr()).toMatch(/refused in production mode:\n {2}- mock_provider\.control_api_key: /);
  });

  it('in production mode, starts with a control key of its own and asks for it', async () => {
    const key = 'prod-control-key-0123456789';
    const { child, firstLine, stderr } = await startProcess({
      MOCK_PROVIDER_PORT: '0',
      NODE_ENV: 'production',
      ADMIN_API_KEY: 'dev-admin-key-change-me',
      MOCK_PROVIDER_CONTROL_KEY: key,
    });
    try {
      expect(stderr()).toBe('');
      const url = firstLine!.url as string;
      expect((await fetch(`${url}/_control/models`)).status).toBe(401);
      expect((await fetch(`${url}/_control/models`, { headers: { authorization: 'Bearer dev-admin-key-change-me' } })).status).toBe(403);
      expect((await fetch(`${url}/_control/models`, { headers: { authorization: `Bearer ${key}` } })).status).toBe(200);
    } finally {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    }
  });

  it('refuses to start with a bad MOCK_PROVIDER_MODELS, naming the bad key (exit 78)', async () => {
    const { child, stderr } = await startProcess({ MOCK_PROVIDER_PORT: '0', MOCK_PROVIDER_MODELS: '{"gpt-4o": {"error_rate": 3}}' });
    const code = child.exitCode ?? (await once(child, 'close'))[0];
    expect(code).toBe(78);
    expect(stderr()).toContain('gpt-4o.error_rate');
  });
});
