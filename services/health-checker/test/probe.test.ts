import { createServer, type Server } from 'node:http';
import type { AddressInfo, LookupFunction } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { EndpointPolicy } from '@model-router/domain';
import { freePort } from '@model-router/tests/support';
import { forEachLimit, type ProbeOptions, probeModel, probeUrl } from '../src/probe.js';

const DEV: EndpointPolicy = { allowPrivateEndpoints: true };
const PROD: EndpointPolicy = { allowPrivateEndpoints: false };
const within = (timeoutMs: number, extra: Partial<ProbeOptions> = {}): ProbeOptions => ({ timeoutMs, policy: DEV, ...extra });

let server: Server;
let base: string;
const seen: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push(req.url ?? '');
    if (req.url?.endsWith('/hang')) return; // never answers
    if (req.url?.endsWith('/redirect')) {
      res.writeHead(302, { location: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/models/after-redirect` });
      res.end();
      return;
    }
    const status = Number(/\/status-(\d{3})$/.exec(req.url ?? '')?.[1] ?? (req.url?.endsWith('/down') ? 503 : 200));
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end('{"id":"x","object":"model"}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

describe('probeModel', () => {
  it('builds the per-model URL, keeping slashes of the id and encoding the rest', () => {
    expect(probeUrl('http://h/v1/', 'meta-llama/Llama 3')).toBe('http://h/v1/models/meta-llama/Llama%203');
    // Nothing in the endpoint can turn the appended path into a query or fragment.
    expect(probeUrl('http://h/v1?x=1', 'gpt-4o')).toBe('http://h/v1/models/gpt-4o');
    expect(probeUrl('http://h/v1#frag', 'gpt-4o')).toBe('http://h/v1/models/gpt-4o');
    expect(probeUrl('http://h/v1?', 'a?b#c')).toBe('http://h/v1/models/a%3Fb%23c');
  });

  it('tells ok, error, timeout and unreachable apart', async () => {
    expect(await probeModel({ id: 'org/fine', endpoint: base }, within(1000))).toMatchObject({ outcome: 'ok', status: 200 });
    expect(seen).toContain('/v1/models/org/fine');
    expect(await probeModel({ id: 'down', endpoint: base }, within(1000))).toMatchObject({ outcome: 'error', status: 503 });
    const hang = await probeModel({ id: 'hang', endpoint: base }, within(100));
    expect(hang).toMatchObject({ outcome: 'timeout', status: null });
    expect(hang.latency_ms).toBeGreaterThan(0);
    const closed = `http://127.0.0.1:${await freePort()}/v1`;
    expect(await probeModel({ id: 'any', endpoint: closed }, within(1000))).toMatchObject({ outcome: 'unreachable' });
  });

  it('counts a refusal of the anonymous probe (401, 403) as up, and other 4xx/5xx as errors', async () => {
    for (const status of [401, 403]) {
      expect(await probeModel({ id: `status-${status}`, endpoint: base }, within(1000))).toMatchObject({ outcome: 'ok', status });
    }
    for (const status of [400, 404, 429, 500, 502]) {
      expect(await probeModel({ id: `status-${status}`, endpoint: base }, within(1000))).toMatchObject({ outcome: 'error', status });
    }
  });
});

describe('probeModel: outbound policy (no traffic to a refused address)', () => {
  /** A resolver of the test's own: names to addresses, counting what it was asked. */
  function resolver(table: Record<string, string[]>): LookupFunction & { asked: string[] } {
    const asked: string[] = [];
    const lookup = ((hostname: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
      asked.push(hostname);
      const addresses = table[hostname];
      if (!addresses) return callback(Object.assign(new Error(`no such name ${hostname}`), { code: 'ENOTFOUND' }));
      const all = addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
      if (options.all) return callback(null, all);
      callback(null, all[0]!.address, all[0]!.family);
    }) as unknown as LookupFunction;
    return Object.assign(lookup, { asked });
  }

  it('refuses endpoints the policy refuses before any connection, naming why', async () => {
    const before = seen.length;
    for (const endpoint of ['http://169.254.169.254/v1', 'http://[fd00:ec2::254]/v1', 'http://metadata.google.internal/v1', 'http://0xa9fea9fe/v1', 'ftp://127.0.0.1/v1']) {
      const result = await probeModel({ id: 'x', endpoint }, within(1000, { policy: DEV }));
      expect(result).toMatchObject({ outcome: 'refused', status: null, latency_ms: 0 });
      expect(result.refusal).toBeTruthy();
    }
    // The test's own server is on 127.0.0.1: refused (and not asked) when private endpoints are not allowed.
    const local = await probeModel({ id: 'org/fine', endpoint: base }, within(1000, { policy: PROD }));
    expect(local).toMatchObject({ outcome: 'refused', refusal: expect.stringMatching(/loopback address: refused unless security\.allow_private_endpoints/) });
    // A query or fragment in a stored endpoint (written before validation existed) is refused too.
    for (const endpoint of [`${base}?`, `${base}#`, `${base}?redirect=1`]) {
      expect(await probeModel({ id: 'org/fine', endpoint }, within(1000))).toMatchObject({ outcome: 'refused' });
    }
    expect(seen.length).toBe(before);
  });

  it('checks what a name resolves to before connecting: a refused address is never contacted', async () => {
    const port = (server.address() as AddressInfo).port;
    const resolve = resolver({
      'models.test': ['127.0.0.1'],
      'rebound.test': ['169.254.169.254'],
      'mapped.test': ['::ffff:169.254.169.254'],
      'mixed.test': ['127.0.0.1', '169.254.169.254'],
      'imds6.test': ['fd00:ec2::254'],
    });
    const before = seen.length;
    for (const name of ['rebound.test', 'mapped.test', 'mixed.test', 'imds6.test']) {
      const result = await probeModel({ id: 'org/fine', endpoint: `http://${name}:${port}/v1` }, within(1000, { resolve }));
      expect(result).toMatchObject({ outcome: 'refused', status: null });
      expect(result.refusal).toMatch(new RegExp(`^${name.replace('.', '\\.')} resolves to .*link-local or cloud metadata address: refused$`));
    }
    expect(seen.length).toBe(before);
    // The name that resolves to an allowed address is probed, through that address.
    expect(await probeModel({ id: 'org/fine', endpoint: `http://models.test:${port}/v1` }, within(1000, { resolve }))).toMatchObject({ outcome: 'ok', status: 200 });
    expect(seen.length).toBe(before + 1);
    // In production the same name is refused: it resolves to loopback.
    const prod = await probeModel({ id: 'org/fine', endpoint: `http://models.test:${port}/v1` }, within(1000, { resolve, policy: PROD }));
    expect(prod).toMatchObject({ outcome: 'refused', refusal: expect.stringMatching(/^models\.test resolves to 127\.0\.0\.1 is a loopback address/) });
    expect(seen.length).toBe(before + 1);
    expect(resolve.asked).toEqual(['rebound.test', 'mapped.test', 'mixed.test', 'imds6.test', 'models.test', 'models.test']);
  });

  it('does not follow redirects: a 3xx is an error answer', async () => {
    const before = seen.length;
    expect(await probeModel({ id: 'redirect', endpoint: base }, within(1000))).toMatchObject({ outcome: 'error', status: 302 });
    expect(seen.slice(before)).toEqual(['/v1/models/redirect']);
  });
});

describe('forEachLimit', () => {
  it('runs every item, at most `limit` at once, and reports failures without stopping', async () => {
    let active = 0;
    let most = 0;
    const results = await forEachLimit([1, 2, 3, 4, 5, 6, 7], 3, async (n) => {
      active++;
      most = Math.max(most, active);
      await new Promise((resolve) => setTimeout(resolve, 5));
      active--;
      if (n === 4) throw new Error('four');
    });
    expect(most).toBe(3);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled', 'fulfilled']);
  });
});
