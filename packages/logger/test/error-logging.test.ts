/**
 * Errors in log lines: whatever shape a failure has and wherever it sits in the metadata, the line
 * is valid JSON that carries its message (and name, code, cause), and never a secret. Shapes are
 * generated: Error subclasses, AggregateError, cause chains, pg DatabaseError-like objects, node
 * errno errors, plain objects, non-enumerable fields, circular references, hostile getters.
 */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { createLogFormat, redactText } from '../src/index.js';

const MESSAGE = Symbol.for('message');
const LEVEL = Symbol.for('level');

/** Renders one line the way the logger writes it, e.g. `logger.error(msg, meta)`. */
function render(msg: unknown, meta: Record<string, unknown>): string {
  const info = { ...meta, level: 'error', message: msg, [LEVEL]: 'error' } as Record<string | symbol, unknown>;
  const out = createLogFormat().transform(info as never, {}) as Record<string | symbol, unknown>;
  return out[MESSAGE] as string;
}

/** How `text` appears inside a JSON string (escaped, secrets redacted). */
const inJson = (text: string): string => JSON.stringify(redactText(text)).slice(1, -1);

class ConfigFailure extends Error {
  constructor(message: string, readonly code: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ConfigFailure';
  }
}

/** Like pg's DatabaseError: SQLSTATE `code`, `detail`, `constraint` as own fields. */
function pgError(message: string, code: string): Error {
  return Object.assign(new Error(message), { name: 'error', code, severity: 'ERROR', detail: `Key (name)=(${message.slice(0, 8)}) already exists.`, constraint: 'queue_pkey', table: 'queue' });
}

const text = fc.string({ minLength: 1, maxLength: 40 });
const sqlstate = fc.constantFrom('23505', '40P01', '42P07', '57P01', 'ECONNREFUSED', 'ETIMEDOUT');

interface Shape {
  value: unknown;
  /** Messages the line must show. */
  messages: string[];
  codes: string[];
}

const leaf: fc.Arbitrary<Shape> = fc.oneof(
  fc.tuple(text).map(([m]) => ({ value: new Error(m), messages: [m], codes: [] })),
  fc.tuple(text, sqlstate).map(([m, c]) => ({ value: new ConfigFailure(m, c), messages: [m], codes: [c] })),
  fc.tuple(text, sqlstate).map(([m, c]) => ({ value: pgError(m, c), messages: [m], codes: [c] })),
  fc.tuple(text).map(([m]) => ({ value: new TypeError(m), messages: [m], codes: [] })),
  // Not an Error instance: a plain object, and one whose fields are all non-enumerable.
  fc.tuple(text, sqlstate).map(([m, c]) => ({ value: { message: m, code: c }, messages: [m], codes: [c] })),
  fc.tuple(text, sqlstate).map(([m, c]) => ({
    value: Object.defineProperties({}, { message: { value: m, enumerable: false }, code: { value: c, enumerable: false } }),
    messages: [m],
    codes: [c],
  })),
  fc.tuple(text).map(([m]) => {
    const e = new Error(m) as Error & { self?: unknown };
    e.self = { back: e };
    return { value: e, messages: [m], codes: [] };
  }),
  fc.tuple(text).map(([m]) => {
    const e = new Error(m);
    Object.defineProperty(e, 'hostile', { enumerable: true, get: () => { throw new Error('getter exploded'); } });
    return { value: e, messages: [m], codes: [] };
  }),
);

const shape: fc.Arbitrary<Shape> = fc.letrec<{ shape: Shape }>((tie) => ({
  shape: fc.oneof(
    { depthSize: 'small', maxDepth: 4, withCrossShrink: true },
    leaf,
    fc.tuple(text, tie('shape')).map(([m, cause]) => ({ value: new Error(m, { cause: cause.value }), messages: [m, ...cause.messages], codes: cause.codes })),
    fc.tuple(text, fc.array(tie('shape'), { minLength: 1, maxLength: 3 })).map(([m, inner]) => ({
      value: new AggregateError(inner.map((s) => s.value), m),
      messages: [m, ...inner.flatMap((s) => s.messages)],
      codes: inner.flatMap((s) => s.codes),
    })),
  ),
})).shape;

const fieldName = fc.constantFrom('err', 'error', 'reason', 'cause', 'failure', 'e');

describe('errors in log lines', () => {
  it('show every message and code of any error shape at any field and nesting, as valid JSON', () => {
    fc.assert(
      fc.property(shape, fieldName, fc.nat({ max: 3 }), (s, field, nesting) => {
        let meta: Record<string, unknown> = { [field]: s.value };
        for (let i = 0; i < nesting; i++) meta = { context: meta };
        const line = render('something failed', meta);
        const parsed = JSON.parse(line);
        expect(parsed.msg).toBe('something failed');
        for (const m of s.messages) expect(line).toContain(inJson(m));
        for (const c of s.codes) expect(line).toContain(`"code":${JSON.stringify(c)}`);
        expect(line).not.toContain('"err":{}');
      }),
      { numRuns: 400 },
    );
  });

  it('keeps the name and stack of an Error subclass and the cause chain', () => {
    const root = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED', errno: -111, syscall: 'connect' });
    const parsed = JSON.parse(render('api failed to start', { err: new ConfigFailure('pg-boss start failed', 'E_START', { cause: root }) }));
    expect(parsed.err).toMatchObject({ name: 'ConfigFailure', message: 'pg-boss start failed', code: 'E_START', cause: { message: root.message, code: 'ECONNREFUSED', errno: -111, syscall: 'connect' } });
    expect(parsed.err.stack).toContain('ConfigFailure: pg-boss start failed');
    expect(parsed.err.cause.stack).toContain('Error: connect ECONNREFUSED');
  });

  it('shows an error passed as the message, and a top-level AggregateError', () => {
    const aggregate = new AggregateError([new Error('first'), new Error('second')], 'all failed');
    const line = render(aggregate, {});
    expect(JSON.parse(line).msg).toBe('all failed');
    for (const m of ['first', 'second']) expect(line).toContain(m);
  });

  it('never throws and always writes JSON, whatever the metadata', () => {
    fc.assert(
      fc.property(fc.anything({ withBigInt: true, withDate: true, withMap: true, withSet: true, withTypedArray: true, withNullPrototype: true, withSparseArray: true }), fieldName, (value, field) => {
        expect(() => JSON.parse(render('value', { [field]: value }))).not.toThrow();
      }),
      { numRuns: 300 },
    );
  });

  it('redacts secrets at any depth, in fields and in error messages', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Za-z0-9]{12,30}$/), fc.constantFrom('password', 'authorization', 'api_key', 'prompt', 'Admin_Api_Key'), fc.nat({ max: 4 }), (secret, key, nesting) => {
        const error = Object.assign(new Error(`connect to postgres://svc:${secret}@db:5432/x failed (Bearer ${secret})`), { [key]: secret, config: { [key]: secret } });
        let meta: Record<string, unknown> = { err: error, [key]: secret };
        for (let i = 0; i < nesting; i++) meta = { inner: meta, list: [meta] };
        const line = render('failed', meta);
        expect(line).not.toContain(secret);
        expect(line).toContain('[redacted]');
      }),
      { numRuns: 200 },
    );
  });

  it('redacts API key secrets (mr-…) wherever they sit: message, URL path, query, nested field', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.constantFrom('GET /api/v1/keys/%s', 'POST /v1/chat/completions?key=%s', 'token was %s.', '"%s"', '/%s/'),
        fc.nat({ max: 3 }),
        (bytes, template, nesting) => {
          const secret = `mr-${Buffer.from(bytes).toString('base64url')}`;
          const text = template.replace('%s', secret);
          let meta: Record<string, unknown> = { path: text, err: new Error(text), note: [text] };
          for (let i = 0; i < nesting; i++) meta = { inner: meta };
          const line = render(text, meta);
          expect(line).not.toContain(secret.slice(3));
          expect(line).toContain('mr-[redacted]');
        },
      ),
      { numRuns: 200 },
    );
  });
});
