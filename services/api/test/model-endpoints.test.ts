/**
 * A model's endpoint is checked when a model is created or changed: a refused endpoint is a 400
 * naming `endpoint`, and nothing is stored. The property tests of every address spelling are in
 * packages/domain/test/endpoint-policy.test.ts; here each class goes through the real API once per
 * method, under both settings of security.allow_private_endpoints.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { ADMIN, type Harness, startHarness } from './harness.js';

let dev: Harness;
let prod: Harness;

beforeAll(async () => {
  dev = await startHarness();
  // The production default, without production mode's other start-up requirements.
  prod = await startHarness({ 'security.allow_private_endpoints': false });
}, 60_000);

afterAll(async () => {
  await dev?.stop();
  await prod?.stop();
});

const model = (id: string, endpoint: string | null) => ({
  id,
  name: id,
  provider: 'acme',
  input_price_per_1k: 0.001,
  output_price_per_1k: 0.002,
  context_window: 8192,
  max_output_tokens: 1024,
  endpoint,
});

const REFUSED_EVERYWHERE = [
  'http://169.254.169.254/latest/meta-data',
  'http://0xa9fea9fe/v1',
  'http://2852039166/v1',
  'http://0251.0376.0251.0376/v1',
  'http://[::ffff:169.254.169.254]/v1',
  'http://[64:ff9b::a9fe:a9fe]/v1',
  'http://[fd00:ec2::254]/v1',
  'http://[fe80::1]/v1',
  'http://metadata.google.internal/computeMetadata/v1',
  'http://METADATA.GOOGLE.INTERNAL./v1',
  'http://0.0.0.0:9010/v1',
  'ftp://api.example.com/v1',
  'file:///etc/passwd',
  'gopher://api.example.com/v1',
  'https://api.example.com/v1?',
  'https://api.example.com/v1#',
  'https://api.example.com/v1?x=/models/',
  'not a url',
];
const PRIVATE = ['http://127.0.0.1:9010/v1', 'http://localhost:9010/v1', 'http://[::1]:9010/v1', 'http://10.0.0.7/v1', 'http://192.168.1.20/v1', 'http://0x7f.1:9010/v1'];

/** 400 naming `endpoint`, and the model is not there (or unchanged) afterwards. */
function expectEndpointRefused(res: request.Response): void {
  expect(res.status).toBe(400);
  expect(res.body.error.code).toBe('VALIDATION_ERROR');
  expect(res.body.error.details).toEqual([expect.objectContaining({ path: 'endpoint', message: expect.any(String) })]);
}

describe('model endpoints (create, replace, patch)', () => {
  it('refuses link-local, metadata, non-http(s) and query/fragment endpoints under either setting', async () => {
    for (const h of [dev, prod]) {
      await request(h.api.url).post('/api/v1/models').set(ADMIN).send(model('ok-model', 'https://api.example.com/v1')).expect(201);
      for (const [i, endpoint] of REFUSED_EVERYWHERE.entries()) {
        expectEndpointRefused(await request(h.api.url).post('/api/v1/models').set(ADMIN).send(model(`bad-${i}`, endpoint)));
        await request(h.api.url).get(`/api/v1/models/bad-${i}`).set(ADMIN).expect(404);
        expectEndpointRefused(await request(h.api.url).put('/api/v1/models/ok-model').set(ADMIN).send(model('ok-model', endpoint)));
        expectEndpointRefused(await request(h.api.url).patch('/api/v1/models/ok-model').set(ADMIN).send({ endpoint }));
      }
      const kept = await request(h.api.url).get('/api/v1/models/ok-model').set(ADMIN).expect(200);
      expect(kept.body.endpoint).toBe('https://api.example.com/v1');
    }
  });

  it('allows loopback and private endpoints only when security.allow_private_endpoints is true', async () => {
    for (const [i, endpoint] of PRIVATE.entries()) {
      const refused = await request(prod.api.url).post('/api/v1/models').set(ADMIN).send(model(`private-${i}`, endpoint));
      expectEndpointRefused(refused);
      expect(refused.body.error.details[0].message).toMatch(/refused unless security\.allow_private_endpoints is true/);
      await request(dev.api.url).post('/api/v1/models').set(ADMIN).send(model(`private-${i}`, endpoint)).expect(201);
    }
    await request(prod.api.url).patch('/api/v1/models/ok-model').set(ADMIN).send({ endpoint: 'http://127.0.0.1:9010/v1' }).expect(400);
    await request(dev.api.url).patch('/api/v1/models/ok-model').set(ADMIN).send({ endpoint: 'http://127.0.0.1:9010/v1' }).expect(200);
    // No endpoint at all stays allowed (the model is then never probed).
    await request(prod.api.url).patch('/api/v1/models/ok-model').set(ADMIN).send({ endpoint: null }).expect(200);
  });
});
