/**
 * End to end, as deployed: the API and the metric aggregator run as their own processes (their
 * `main.ts`), configured only by OTEL_* variables to send traces over OTLP/HTTP to a receiver this
 * test runs. One request yields spans from both processes in one trace, with the right parents:
 * HTTP server span → enqueue (producer) → worker (consumer) → its Postgres queries. The API's log
 * lines are JSON with the request's trace id, and never hold the prompt or a key.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ADMIN_KEY, createTestEnv, freePort, type TestEnv, waitForDefined } from '../support/index.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TSX = `${ROOT}node_modules/.bin/tsx`;
const SECRET_PROMPT = 'PROMPT-THAT-MUST-NEVER-BE-LOGGED-7f3a';

// OTLP span kinds (opentelemetry/proto/trace/v1/trace.proto).
const KIND = { INTERNAL: 1, SERVER: 2, CLIENT: 3, PRODUCER: 4, CONSUMER: 5 } as const;

interface ReceivedSpan {
  service: string;
  scope: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  attributes: Record<string, unknown>;
}

interface OtlpValue {
  stringValue?: string;
  intValue?: string | number;
  doubleValue?: number;
  boolValue?: boolean;
  arrayValue?: { values?: OtlpValue[] };
}
type OtlpAttribute = { key: string; value: OtlpValue };

const valueOf = (v: OtlpValue): unknown =>
  v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : undefined) ?? v.doubleValue ?? v.boolValue ?? v.arrayValue?.values?.map(valueOf);
const attributesOf = (list: OtlpAttribute[] = []): Record<string, unknown> => Object.fromEntries(list.map((a) => [a.key, valueOf(a.value)]));

/** A minimal OTLP/HTTP (JSON) trace receiver: what a collector would get. */
function startReceiver(): Promise<{ server: Server; url: string; spans: ReceivedSpan[] }> {
  const spans: ReceivedSpan[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.url === '/v1/traces' && req.headers['content-type']?.startsWith('application/json')) {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
          resourceSpans?: Array<{
            resource?: { attributes?: OtlpAttribute[] };
            scopeSpans?: Array<{ scope?: { name?: string }; spans?: Array<Record<string, unknown>> }>;
          }>;
        };
        for (const rs of body.resourceSpans ?? []) {
          const service = String(attributesOf(rs.resource?.attributes)['service.name']);
          for (const ss of rs.scopeSpans ?? []) {
            for (const s of ss.spans ?? []) {
              spans.push({
                service,
                scope: ss.scope?.name ?? '',
                traceId: s.traceId as string,
                spanId: s.spanId as string,
                parentSpanId: (s.parentSpanId as string | undefined) ?? '',
                name: s.name as string,
                kind: s.kind as number,
                attributes: attributesOf(s.attributes as OtlpAttribute[]),
              });
            }
          }
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, spans }));
  });
}

interface Service {
  child: ChildProcess;
  stdout: string[];
  output: () => string;
}

function startService(dir: string, env: NodeJS.ProcessEnv): Service {
  const child = spawn(TSX, ['src/main.ts'], { cwd: `${ROOT}services/${dir}`, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const stdout: string[] = [];
  let partial = '';
  let all = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    all += chunk.toString();
    const lines = (partial + chunk.toString()).split('\n');
    partial = lines.pop() ?? '';
    stdout.push(...lines.filter((l) => l !== ''));
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    all += chunk.toString();
  });
  return { child, stdout, output: () => all };
}

/** Spans and log lines arrive asynchronously: poll for one (`debug` adds a log tail to a timeout). */
const waitFor = <T>(what: string, read: () => T | undefined | Promise<T | undefined>, timeoutMs = 30_000, debug?: () => string) =>
  waitForDefined(read, { what, timeoutMs, intervalMs: 100, detail: debug });

async function stopService(service: Service | undefined): Promise<void> {
  if (!service || service.child.exitCode !== null) return;
  const exited = new Promise((resolve) => service.child.once('exit', resolve));
  service.child.kill('SIGTERM');
  const timer = setTimeout(() => service.child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

let env: TestEnv;
let receiver: Awaited<ReturnType<typeof startReceiver>>;
let api: Service;
let aggregator: Service;
let apiUrl: string;

beforeAll(async () => {
  env = await createTestEnv();
  receiver = await startReceiver();
  const [apiPort, aggregatorPort] = [await freePort(), await freePort()];
  apiUrl = `http://127.0.0.1:${apiPort}`;
  const otel = {
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    // Export within a fifth of a second instead of five seconds.
    OTEL_BSP_SCHEDULE_DELAY: '200',
  };
  api = startService('api', env.processEnv({ ...otel, PORT: String(apiPort), HOST: '127.0.0.1', LOG_LEVEL: 'debug' }));
  aggregator = startService('metric-aggregator', env.processEnv({ ...otel, METRIC_AGGREGATOR_PORT: String(aggregatorPort), HOST: '127.0.0.1' }));
  await waitFor('the API', () => (api.output().includes('"msg":"api listening"') ? true : undefined), 60_000, api.output);
  const ready = async (url: string) => ((await fetch(url).catch(() => null))?.ok ? true : undefined);
  await waitFor('the aggregator', () => ready(`http://127.0.0.1:${aggregatorPort}/readyz`), 60_000, aggregator.output);
}, 90_000);

afterAll(async () => {
  await Promise.all([stopService(api), stopService(aggregator)]);
  await new Promise((resolve) => receiver?.server.close(resolve));
  await env?.cleanup();
}, 60_000);

const inTrace = (traceId: string) => receiver.spans.filter((s) => s.traceId === traceId);

/** The chain of parents from `span` up to the root, within the spans received. */
function ancestors(span: ReceivedSpan): ReceivedSpan[] {
  const chain: ReceivedSpan[] = [];
  let current: ReceivedSpan | undefined = span;
  while (current?.parentSpanId) {
    current = receiver.spans.find((s) => s.spanId === current!.parentSpanId);
    if (current) chain.push(current);
  }
  return chain;
}

describe('one trace from the HTTP request to the worker and its database writes', () => {
  it('POST /api/v1/metrics: API server span → enqueue → aggregator consumer span → Postgres queries', async () => {
    const res = await fetch(`${apiUrl}/api/v1/metrics`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model_id: 'gpt-4o', success: true, latency_ms: 250, prompt_tokens: 12, completion_tokens: 30 }),
    });
    expect(res.status).toBe(202);
    const requestId = res.headers.get('x-request-id')!;

    const server = await waitFor('the API server span', () =>
      receiver.spans.find((s) => s.kind === KIND.SERVER && s.attributes['model_router.request_id'] === requestId),
    );
    expect(server).toMatchObject({ service: 'api', name: 'POST /api/v1/metrics', parentSpanId: '' });
    expect(server.attributes).toMatchObject({ 'http.request.method': 'POST', 'http.route': '/api/v1/metrics', 'http.response.status_code': 202 });

    const consumer = await waitFor('the aggregator consumer span', () =>
      inTrace(server.traceId).find((s) => s.kind === KIND.CONSUMER),
    );
    const producer = inTrace(server.traceId).find((s) => s.kind === KIND.PRODUCER)!;
    expect(producer).toMatchObject({ service: 'api', name: 'send metric-events', parentSpanId: server.spanId });
    expect(producer.attributes).toMatchObject({ 'messaging.system': 'bullmq', 'messaging.destination.name': 'metric-events', 'messaging.operation.type': 'send' });
    expect(consumer).toMatchObject({ service: 'metric-aggregator', name: 'process metric-events', parentSpanId: producer.spanId });
    expect(consumer.attributes).toMatchObject({
      'messaging.operation.type': 'process',
      'messaging.batch.message_count': 1,
      'messaging.consumer.group.name': 'metric-aggregator',
      'model_router.event.name': 'metric.recorded',
    });

    // The batch's writes, traced by the pg instrumentation under the consumer span.
    const queries = await waitFor('the worker database spans', () => {
      const found = inTrace(server.traceId).filter((s) => s.service === 'metric-aggregator' && s.name.startsWith('pg.query'));
      return found.some((s) => String(s.attributes['db.query.text'] ?? s.attributes['db.statement'] ?? '').includes('metric_events')) ? found : undefined;
    });
    for (const query of queries) expect(ancestors(query).map((s) => s.spanId)).toContain(consumer.spanId);
    expect(new Set(inTrace(server.traceId).map((s) => s.service))).toEqual(new Set(['api', 'metric-aggregator']));
  });

  it('POST /api/v1/route with an A/B test: assignment and decision spans, and the route event persisted in the same trace', async () => {
    const admin = { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' };
    const test = {
      id: 'trace_ab',
      name: 'trace A/B',
      variants: [
        { id: 'control', model_id: 'gpt-4o', weight: 0.5 },
        { id: 'candidate', model_id: 'gpt-4o-mini', weight: 0.5 },
      ],
      created_by: 'ops',
    };
    expect((await fetch(`${apiUrl}/api/v1/abtests`, { method: 'POST', headers: admin, body: JSON.stringify(test) })).status).toBe(201);
    expect((await fetch(`${apiUrl}/api/v1/abtests/trace_ab/start`, { method: 'POST', headers: admin })).status).toBe(200);

    const res = await fetch(`${apiUrl}/api/v1/route`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_KEY}` },
      body: JSON.stringify({ prompt: SECRET_PROMPT, max_tokens: 200, strategy: 'fastest', user_id: 'user-42', enable_ab_test: true, ab_test_id: 'trace_ab' }),
    });
    expect(res.status).toBe(200);
    const answer = (await res.json()) as { request_id: string; model_id: string; variant_id: string; provider: string };
    expect(answer.variant_id).not.toBeNull();

    const server = await waitFor('the route server span', () =>
      receiver.spans.find((s) => s.kind === KIND.SERVER && s.attributes['model_router.request_id'] === answer.request_id),
    );
    const assign = await waitFor('abtest.assign', () => inTrace(server.traceId).find((s) => s.name === 'abtest.assign'));
    expect(assign).toMatchObject({ service: 'api', parentSpanId: server.spanId });
    expect(assign.attributes).toMatchObject({
      'model_router.abtest.id': 'trace_ab',
      'model_router.abtest.variant_id': answer.variant_id,
      'model_router.abtest.assigned': true,
      'gen_ai.request.model': answer.model_id,
    });
    const decide = inTrace(server.traceId).find((s) => s.name === 'route.decide')!;
    expect(decide).toMatchObject({ service: 'api', parentSpanId: server.spanId });
    expect(decide.attributes).toMatchObject({
      'model_router.routing.strategy': 'fastest',
      'gen_ai.request.model': answer.model_id,
      'gen_ai.provider.name': answer.provider,
      'gen_ai.request.max_tokens': 200,
      'model_router.abtest.id': 'trace_ab',
      'model_router.abtest.variant_id': answer.variant_id,
    });

    const consumer = await waitFor('the route event consumer span', () =>
      inTrace(server.traceId).find((s) => s.kind === KIND.CONSUMER && s.name === 'process route-events'),
    );
    const producer = inTrace(server.traceId).find((s) => s.spanId === consumer.parentSpanId)!;
    expect(producer).toMatchObject({ service: 'api', kind: KIND.PRODUCER, name: 'send route-events', parentSpanId: server.spanId });
    expect(consumer.service).toBe('metric-aggregator');
    // No span carries the prompt.
    expect(JSON.stringify(inTrace(server.traceId))).not.toContain(SECRET_PROMPT);
  });
});

describe('logs', () => {
  it('every line the API prints is a JSON object with timestamp, level, service and msg', () => {
    expect(api.stdout.length).toBeGreaterThan(0);
    for (const line of api.stdout) {
      const entry = JSON.parse(line) as Record<string, unknown>;
      expect(typeof entry.timestamp).toBe('string');
      expect(Number.isNaN(Date.parse(entry.timestamp as string))).toBe(false);
      expect(['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly']).toContain(entry.level);
      expect(entry.service).toBe('api');
      expect(typeof entry.msg).toBe('string');
    }
  });

  it("a request's access line (debug) carries its request id and its trace and span ids", async () => {
    const res = await fetch(`${apiUrl}/api/v1/models/gpt-4o`);
    expect(res.status).toBe(200);
    const requestId = res.headers.get('x-request-id')!;
    const line = await waitFor('the access log line', () =>
      api.stdout.map((l) => JSON.parse(l) as Record<string, unknown>).find((e) => e.msg === 'request' && e.request_id === requestId),
    );
    const server = await waitFor('its server span', () =>
      receiver.spans.find((s) => s.kind === KIND.SERVER && s.attributes['model_router.request_id'] === requestId),
    );
    expect(line).toMatchObject({
      level: 'debug',
      service: 'api',
      request_id: requestId,
      method: 'GET',
      route: '/api/v1/models/:id',
      status: 200,
      trace_id: server.traceId,
      span_id: server.spanId,
    });
  });

  it('never prints a prompt or an API key', () => {
    expect(api.output()).not.toContain(SECRET_PROMPT);
    expect(api.output()).not.toContain(ADMIN_KEY);
    expect(aggregator.output()).not.toContain(SECRET_PROMPT);
  });
});
