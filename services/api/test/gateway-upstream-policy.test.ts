import { createServer, type Server } from 'node:http';
import type { AddressInfo, LookupFunction } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { UpstreamClient, UpstreamTransportError } from '../src/gateway/upstream-client.js';

// The gateway's upstream client applies the endpoint policy the registry and the health prober
// apply: the URL's host, then every address a name resolves to, before any byte is sent.

let server: Server;
let port: number;
let connections = 0;

beforeAll(async () => {
  server = createServer((_req, res) => res.end('{}'));
  server.on('connection', () => (connections += 1));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

/** Resolves every name to `address`. */
const resolvingTo =
  (address: string): LookupFunction =>
  (_hostname, options, callback) => {
    const family = address.includes(':') ? 6 : 4;
    if ((options as { all?: boolean }).all) (callback as (e: null, a: { address: string; family: number }[]) => void)(null, [{ address, family }]);
    else callback(null, address, family);
  };

function client(allowPrivateEndpoints: boolean, resolve?: LookupFunction): UpstreamClient {
  return new UpstreamClient({ policy: { allowPrivateEndpoints }, resolve, connectTimeoutMs: 2000, firstByteTimeoutMs: 2000, connectionsPerOrigin: 4 });
}

const post = (url: string) => ({ url, method: 'POST' as const, headers: { 'content-type': 'application/json' }, body: '{}' });

async function refusedKind(c: UpstreamClient, url: string): Promise<string | null> {
  try {
    await c.stream(post(url), AbortSignal.timeout(5000), { onHeaders: () => undefined, onData: () => undefined });
    return null;
  } catch (error) {
    return error instanceof UpstreamTransportError ? error.kind : `unexpected ${String(error)}`;
  }
}

describe('the upstream client and the endpoint policy', () => {
  it('refuses a loopback endpoint when private endpoints are not allowed, and connects nowhere', async () => {
    const strict = client(false);
    const before = connections;
    expect(await refusedKind(strict, `http://127.0.0.1:${port}/v1/chat/completions`)).toBe('refused');
    expect(strict.refusal(`http://127.0.0.1:${port}/v1`)).toContain('loopback');
    expect(connections).toBe(before);
    await strict.close();
  });

  it('refuses a name that resolves to a private address (checked at connect time), and connects nowhere', async () => {
    const strict = client(false, resolvingTo('127.0.0.1'));
    const before = connections;
    expect(strict.refusal(`http://provider.example:${port}/v1`)).toBeNull();
    expect(await refusedKind(strict, `http://provider.example:${port}/v1/chat/completions`)).toBe('refused');
    expect(connections).toBe(before);
    await strict.close();
  });

  it('calls the same name when private endpoints are allowed (development)', async () => {
    const open = client(true, resolvingTo('127.0.0.1'));
    const before = connections;
    expect(await refusedKind(open, `http://provider.example:${port}/v1/chat/completions`)).toBeNull();
    expect(connections).toBe(before + 1);
    await open.close();
  });

  it('refuses cloud metadata addresses whatever the policy', async () => {
    for (const allow of [true, false]) {
      const c = client(allow, resolvingTo('169.254.169.254'));
      expect(await refusedKind(c, 'http://169.254.169.254/latest/meta-data')).toBe('refused');
      expect(await refusedKind(c, `http://metadata.example:${port}/v1`)).toBe('refused');
      await c.close();
    }
  });

  it('property: any loopback, private or link-local address a name resolves to is refused under the strict policy, with no connection', async () => {
    const octet = fc.integer({ min: 0, max: 255 });
    const refusedAddress = fc.oneof(
      fc.tuple(octet, octet, octet).map(([a, b, c]) => `127.${a}.${b}.${c}`),
      fc.tuple(octet, octet, octet).map(([a, b, c]) => `10.${a}.${b}.${c}`),
      fc.tuple(fc.integer({ min: 16, max: 31 }), octet, octet).map(([a, b, c]) => `172.${a}.${b}.${c}`),
      fc.tuple(octet, octet).map(([a, b]) => `192.168.${a}.${b}`),
      fc.tuple(octet, octet).map(([a, b]) => `169.254.${a}.${b}`),
    );
    const before = connections;
    await fc.assert(
      fc.asyncProperty(refusedAddress, async (address) => {
        const strict = client(false, resolvingTo(address));
        try {
          expect(await refusedKind(strict, `http://provider.example:${port}/v1/chat/completions`)).toBe('refused');
        } finally {
          await strict.close();
        }
      }),
      { numRuns: 60 },
    );
    expect(connections).toBe(before);
  });
});
