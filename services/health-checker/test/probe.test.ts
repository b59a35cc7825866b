import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { freePort } from '@model-router/tests/support';
import { forEachLimit, probeModel, probeUrl } from '../src/probe.js';

let server: Server;
let base: string;
const seen: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push(req.url ?? '');
    if (req.url?.endsWith('/hang')) return; // never answers
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
  });

  it('tells ok, error, timeout and unreachable apart', async () => {
    expect(await probeModel({ id: 'org/fine', endpoint: base }, 1000)).toMatchObject({ outcome: 'ok', status: 200 });
    expect(seen).toContain('/v1/models/org/fine');
    expect(await probeModel({ id: 'down', endpoint: base }, 1000)).toMatchObject({ outcome: 'error', status: 503 });
    const hang = await probeModel({ id: 'hang', endpoint: base }, 100);
    expect(hang).toMatchObject({ outcome: 'timeout', status: null });
    expect(hang.latency_ms).toBeGreaterThan(0);
    const closed = `http://127.0.0.1:${await freePort()}/v1`;
    expect(await probeModel({ id: 'any', endpoint: closed }, 1000)).toMatchObject({ outcome: 'unreachable' });
  });

  it('counts a refusal of the anonymous probe (401, 403) as up, and other 4xx/5xx as errors', async () => {
    for (const status of [401, 403]) {
      expect(await probeModel({ id: `status-${status}`, endpoint: base }, 1000)).toMatchObject({ outcome: 'ok', status });
    }
    for (const status of [400, 404, 429, 500, 502]) {
      expect(await probeModel({ id: `status-${status}`, endpoint: base }, 1000)).toMatchObject({ outcome: 'error', status });
    }
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
