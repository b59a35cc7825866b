/**
 * The floor of the gateway benchmark's streaming figure: the least any Node proxy does. A node:http
 * server that forwards each request's body to the same path on BENCH_UPSTREAM through undici (the
 * gateway's client, a keep-alive Agent, its dispatch callbacks) and writes the answer back as it
 * comes: no parsing, routing, auth, translation or recording. What it adds over calling the mock
 * directly is the second process and its two loopback hops; the gateway's own work is on top.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent } from 'undici';
import { reportReady } from '../lib/child.js';

const upstream = process.env.BENCH_UPSTREAM;
if (!upstream) throw new Error('BENCH_UPSTREAM is required');
const origin = new URL(upstream).origin;
const agent = new Agent({ connections: 256, keepAliveTimeout: 30_000 });

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    agent.dispatch(
      { origin, path: req.url ?? '/', method: 'POST', headers: { 'content-type': 'application/json' }, body: Buffer.concat(chunks) },
      {
        // Present even if empty: undici takes a handler without it for one of its older shape.
        onRequestStart() {},
        onResponseStart(_controller, statusCode, headers) {
          res.writeHead(statusCode, { 'content-type': String(headers['content-type'] ?? 'application/octet-stream') });
        },
        onResponseData(_controller, chunk) {
          res.write(chunk);
        },
        onResponseEnd() {
          res.end();
        },
        onResponseError(_controller, error) {
          res.destroy(error);
        },
      },
    );
  });
});
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1');
await new Promise<void>((resolve, reject) => {
  server.once('listening', resolve);
  server.once('error', reject);
});
const { port } = server.address() as AddressInfo;
reportReady({ url: `http://127.0.0.1:${port}` }, async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await agent.close();
});
