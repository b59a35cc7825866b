import { describe, expect, it } from '@jest/globals';
import express, { type ErrorRequestHandler } from 'express';
import fc from 'fast-check';
import request from 'supertest';
import { bodyLimitBytes, jsonBody } from '../src/gateway/json-body.js';

/** An app answering what `parser` made of the body, or the type of the error it raised. */
function appWith(parser: express.RequestHandler) {
  const app = express();
  app.post('/', parser, (req, res) => {
    res.json({ body: req.body === undefined ? '(undefined)' : req.body });
  });
  const errors: ErrorRequestHandler = (err, _req, res, _next) => {
    res.status(err.status ?? 500).json({ error: err.type ?? 'unknown' });
  };
  app.use(errors);
  return app;
}

/** The same request through jsonBody (counting its fallbacks) and through express.json alone. */
async function both(body: string, headers: Record<string, string>) {
  const reference = express.json({ limit: '2kb', strict: true });
  const counter = { fallbacks: 0 };
  const counted: express.RequestHandler = (req, res, next) => {
    counter.fallbacks++;
    reference(req, res, next);
  };
  const send = async (app: express.Express) => {
    let req = request(app).post('/');
    for (const [k, v] of Object.entries(headers)) req = req.set(k, v);
    const res = await req.send(body);
    return { status: res.status, body: res.body as unknown };
  };
  const fast = await send(appWith(jsonBody('2kb', counted)));
  return { fast, reference: await send(appWith(reference)), counter };
}

describe("the gateway route's JSON body", () => {
  it('reads the limit as body-parser does', () => {
    expect(bodyLimitBytes('1mb')).toBe(1024 * 1024);
    expect(bodyLimitBytes('512kb')).toBe(512 * 1024);
    expect(bodyLimitBytes('100000')).toBe(100_000);
    expect(bodyLimitBytes('1.5kb')).toBe(1536);
    expect(bodyLimitBytes('lots')).toBeNull();
  });

  it('parses and refuses exactly as express.json, on generated bodies', async () => {
    const bodyArb = fc.oneof(
      fc.json().map((text) => text),
      fc.string({ maxLength: 40 }),
      fc.constantFrom('{"a":1}', ' \n{"a":[1,2]}', '\uFEFF{"a":1}', '[1,2]', '"str"', '3', 'null', '{"a":', '{}x', 'x'.repeat(3000), `{"a":"${'y'.repeat(3000)}"}`),
    );
    const typeArb = fc.constantFrom('application/json', 'application/json; charset=utf-8', 'application/json; charset=latin1', 'text/plain', 'application/vnd.api+json');
    await fc.assert(
      fc.asyncProperty(bodyArb, typeArb, async (body, type) => {
        const { fast, reference } = await both(body, { 'content-type': type });
        expect(fast).toEqual(reference);
      }),
      { numRuns: 150 },
    );
  });

  it('takes the common request itself and leaves the rest to body-parser', async () => {
    const common = await both('{"model":"m"}', { 'content-type': 'application/json' });
    expect(common.fast).toEqual({ status: 200, body: { body: { model: 'm' } } });
    expect(common.counter.fallbacks).toBe(0);
    const other = await both('{"model":"m"}', { 'content-type': 'application/json;charset=UTF-8' });
    expect(other.fast).toEqual(other.reference);
    expect(other.counter.fallbacks).toBe(1);
    const tooLarge = await both(`{"a":"${'y'.repeat(3000)}"}`, { 'content-type': 'application/json' });
    expect(tooLarge.fast).toEqual({ status: 413, body: { error: 'entity.too.large' } });
    expect(tooLarge.counter.fallbacks).toBe(1);
  });
});
