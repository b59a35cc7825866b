/**
 * API keys across replicas: two API processes (as production runs them, each its own process with
 * its own snapshot) on one database and Redis. A key created, disabled, rotated or deleted through
 * one is honoured by the other within 1 s (the config-change notice; the refresh timer is 30 s).
 * Both processes log at debug level; no secret may appear in what they wrote.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ADMIN_KEY, createTestEnv, type TestEnv, waitUntil } from '@model-router/tests/support';
import { ServiceProcess } from '../support/service-processes.js';

let env: TestEnv;
let a: ServiceProcess;
let b: ServiceProcess;
const secrets: string[] = [];

const admin = { Authorization: `Bearer ${ADMIN_KEY}`, 'Content-Type': 'application/json' };

async function call(api: ServiceProcess, method: string, path: string, body?: unknown, headers: Record<string, string> = admin) {
  const res = await fetch(`${api.url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

/** What a route request with `secret` gets from `api`. */
async function routeStatus(api: ServiceProcess, secret: string): Promise<number> {
  const res = await call(api, 'POST', '/api/v1/route', { prompt: 'hi', max_tokens: 5 }, { Authorization: `Bearer ${secret}`, 'Content-Type': 'application/json' });
  return res.status;
}

/** Waits (at most 1 s) until `api` answers `status` for `secret`. */
async function seen(api: ServiceProcess, secret: string, status: number): Promise<void> {
  await waitUntil(async () => (await routeStatus(api, secret)) === status, { timeoutMs: 1000, intervalMs: 10, what: `${api.name} answers ${status}` });
}

beforeAll(async () => {
  env = await createTestEnv();
  const vars = env.processEnv({ LOG_LEVEL: 'debug' }) as Record<string, string>;
  a = await ServiceProcess.create('api-a', 'api', vars);
  b = await ServiceProcess.create('api-b', 'api', vars);
  await Promise.all([a.start(), b.start()]);
}, 180_000);

afterAll(async () => {
  await a?.stop();
  await b?.stop();
  await env?.cleanup();
});

describe('API keys on two API processes', () => {
  it('create, disable, enable, rotate and delete on one replica take effect on the other within 1 s', async () => {
    const created = await call(a, 'POST', '/api/v1/keys', { name: 'replicated', metadata: { team: 'search' } });
    expect(created.status).toBe(201);
    const { id, secret } = created.body as { id: string; secret: string };
    secrets.push(secret);
    // With no key stored both were open to anyone, so 200 alone would not show B learned of it:
    // B must also start refusing a secret that is not a key.
    await seen(b, `mr-${'x'.repeat(43)}`, 403);
    await seen(b, secret, 200);

    expect((await call(a, 'PATCH', `/api/v1/keys/${id}`, { enabled: false })).status).toBe(200);
    await seen(b, secret, 403);
    expect((await call(a, 'PATCH', `/api/v1/keys/${id}`, { enabled: true })).status).toBe(200);
    await seen(b, secret, 200);

    // Rotation through B this time: A honours the new secret, and the old one during its grace.
    const rotated = await call(b, 'POST', `/api/v1/keys/${id}/rotate`, { grace_period_seconds: 3600 });
    expect(rotated.status).toBe(200);
    const fresh = rotated.body.secret as string;
    secrets.push(fresh);
    await seen(a, fresh, 200);
    expect(await routeStatus(a, secret)).toBe(200);
    // A rotation without grace retires the previous secret on both at once.
    const retired = await call(a, 'POST', `/api/v1/keys/${id}/rotate`, { grace_period_seconds: 0 });
    secrets.push(retired.body.secret as string);
    await seen(b, fresh, 403);
    await seen(b, retired.body.secret as string, 200);

    expect((await call(b, 'DELETE', `/api/v1/keys/${id}`)).status).toBe(204);
    await seen(a, retired.body.secret as string, 403);
    await seen(b, retired.body.secret as string, 403);
  });

  it('no secret appears in either process\'s log (written at debug level)', async () => {
    // Bad requests and refusals log too: present a secret where it is wrong as well.
    await call(a, 'POST', '/api/v1/keys', { name: 'x', secret: secrets[0] });
    await call(b, 'GET', `/api/v1/keys/${secrets[0]}`);
    const logs = a.output() + b.output();
    expect(logs.length).toBeGreaterThan(1000);
    expect(secrets).toHaveLength(3);
    for (const secret of secrets) {
      expect(logs).not.toContain(secret);
      // Nor the random part alone (a log that strips the prefix would still leak it).
      expect(logs).not.toContain(secret.slice(3));
    }
  });
});
