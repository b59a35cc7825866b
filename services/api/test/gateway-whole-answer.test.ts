import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { BodyReadError, UpstreamClient, UpstreamTransportError } from '../src/gateway/upstream-client.js';

// The non-streamed call reads its answer whole from undici's dispatch callbacks: what it answers
// for a complete body, a body cut after the headers, and an abort before or after the headers.

let server: Server;
let base: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    switch (req.url) {
      case '/whole':
        res.writeHead(200, { 'content-type': 'application/json', 'x-ratelimit-remaining-requests': '7' });
        res.write('{"a":');
        setTimeout(() => res.end('1}'), 5);
        return;
      case '/cut-success':
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
        res.write('{"a":');
        setTimeout(() => res.socket?.destroy(), 5);
        return;
      case '/cut-error':
        res.writeHead(503, { 'content-type': 'application/json', 'content-length': '100', 'retry-after': '2' });
        res.write('{"error":');
        setTimeout(() => res.socket?.destroy(), 5);
        return;
      case '/headers-then-stall':
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{');
        return; // never ends
      default:
        return; // never answers
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const client = () => new UpstreamClient({ policy: { allowPrivateEndpoints: true }, connectTimeoutMs: 2000, firstByteTimeoutMs: 5000, connectionsPerOrigin: 4 });
const post = (path: string) => ({ url: `${base}${path}`, method: 'POST' as const, headers: { 'content-type': 'application/json' }, body: '{}' });

async function failure(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a failure');
}

describe('a whole (non-streamed) upstream answer', () => {
  it('is read to its end, with its status and headers, and says when the headers came', async () => {
    const c = client();
    let headersCalls = 0;
    const answer = await c.sendWhole(post('/whole'), new AbortController().signal, () => headersCalls++);
    expect(answer.statusCode).toBe(200);
    expect(answer.headers['x-ratelimit-remaining-requests']).toBe('7');
    expect(answer.body.toString()).toBe('{"a":1}');
    expect(headersCalls).toBe(1);
    await c.close();
  });

  it('cut after the headers is a BodyReadError carrying the status and headers', async () => {
    const c = client();
    const success = await failure(c.sendWhole(post('/cut-success'), new AbortController().signal));
    expect(success).toBeInstanceOf(BodyReadError);
    expect((success as BodyReadError).statusCode).toBe(200);
    const error = await failure(c.sendWhole(post('/cut-error'), new AbortController().signal));
    expect(error).toBeInstanceOf(BodyReadError);
    expect((error as BodyReadError).statusCode).toBe(503);
    expect((error as BodyReadError).headers['retry-after']).toBe('2');
    await c.close();
  });

  it('aborted before or after the headers fails with the abort reason', async () => {
    const c = client();
    for (const path of ['/no-answer', '/headers-then-stall']) {
      const abort = new AbortController();
      let headers = false;
      // Aborted once the server has the request (and, for the stall, once the headers came).
      const arrived = new Promise<void>((resolve) => server.once('request', () => resolve()));
      let headersCame: () => void = () => undefined;
      const headersArrived = new Promise<void>((resolve) => (headersCame = resolve));
      const pending = c.sendWhole(post(path), abort.signal, () => {
        headers = true;
        headersCame();
      });
      await (path === '/headers-then-stall' ? headersArrived : arrived);
      expect(headers).toBe(path === '/headers-then-stall');
      abort.abort(new UpstreamTransportError('timeout', new Error('no complete answer')));
      const error = await failure(pending);
      expect(error).toBeInstanceOf(UpstreamTransportError);
      expect((error as UpstreamTransportError).kind).toBe('timeout');
    }
    await c.close();
  });
});
