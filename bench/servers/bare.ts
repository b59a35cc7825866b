/**
 * The baseline for the HTTP benchmark: a bare Express 5 app (the workspace's one express version)
 * with the express.json() body parser, whose POST /api/v1/route answers the JSON body the real
 * route endpoint returned (given in BENCH_BARE_BODY), serialised per request with res.json like the
 * real one. It turns off the same two defaults the API turns off (ETag, X-Powered-By), so the
 * difference between the two is the API's own middleware and handler.
 */
import type { AddressInfo } from 'node:net';
import express from 'express';
import { reportReady } from '../lib/child.js';

const raw = process.env.BENCH_BARE_BODY;
if (!raw) throw new Error('BENCH_BARE_BODY is required');
const body = JSON.parse(raw) as unknown;

const app = express();
app.disable('x-powered-by');
app.set('etag', false);
app.use(express.json());
app.post('/api/v1/route', (_req, res) => {
  res.json(body);
});

const server = app.listen(0, '127.0.0.1');
await new Promise<void>((resolve, reject) => {
  server.once('listening', resolve);
  server.once('error', reject);
});
server.keepAliveTimeout = 65_000;
const { port } = server.address() as AddressInfo;
reportReady(
  { url: `http://127.0.0.1:${port}` },
  () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
);
