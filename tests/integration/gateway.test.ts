/**
 * The gateway end to end: the official `openai` client against POST /v1/chat/completions of a real
 * API, the mock provider as every upstream (OpenAI, Anthropic and Gemini wire formats), and the
 * workers that turn the gateway's records into usage and A/B results. Real Redis, Postgres, HTTP.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startMetricAggregator } from '@model-router/metric-aggregator';
import OpenAI from 'openai';
import pg from 'pg';
import { ADMIN_KEY, type TestEnv, waitForDefined, waitUntil } from '../support/index.js';
import { MOCK_CONTROL, type MockGateway, quietLogger as quiet, startMockGateway } from '../support/mock-gateway.js';
import { readmeBlock, runBash, runNodeExample } from '../support/readme-examples.js';

let gateway: MockGateway;
let env: TestEnv;
let mock: MockGateway['mock'];
let api: MockGateway['api'];
let aggregator: Awaited<ReturnType<typeof startMetricAggregator>>;
let client: OpenAI;

beforeAll(async () => {
  // The client makes no retries of its own: every retry here is the gateway's, counted in x-router-attempts.
  gateway = await startMockGateway({}, 'unused-no-client-key-configured');
  ({ env, mock, api, client } = gateway);
  aggregator = await startMetricAggregator(gateway.config, { logger: quiet('aggregator'), opsPort: 0 });
}, 60_000);

afterAll(async () => {
  await aggregator?.stop();
  await gateway?.stop();
});

const admin = (method: string, path: string, body?: unknown) =>
  fetch(`${api.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });

interface MockStats {
  requests: number;
  ok: number;
  failed: number;
  aborted: number;
}
async function mockStats(model: string): Promise<MockStats> {
  const all = (await (await fetch(`${mock.url}/_control/stats`, { headers: MOCK_CONTROL })).json()) as { by_model: Record<string, MockStats> };
  return all.by_model[model] ?? { requests: 0, ok: 0, failed: 0, aborted: 0 };
}

describe('the official openai client against the gateway', () => {
  it('lists the registry models and the router/* names', async () => {
    const ids: string[] = [];
    for await (const model of client.models.list()) ids.push(model.id);
    expect(ids).toEqual(expect.arrayContaining(['router/cheapest', 'router/fastest', 'router/most_available', 'router/balanced', 'gpt-4o-mini', 'claude-haiku-4-5', 'gemini-2.5-flash']));
  });

  it('answers a named model, not streamed, with the router headers and usage', async () => {
    const { data, response } = await client.chat.completions
      .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello' }], max_tokens: 50 })
      .withResponse();
    expect(data.object).toBe('chat.completion');
    expect(data.model).toBe('gpt-4o-mini');
    expect(data.choices[0]!.message.content).toContain('mock response from gpt-4o-mini');
    expect(data.usage!.prompt_tokens).toBeGreaterThan(0);
    expect(response.headers.get('x-router-model')).toBe('gpt-4o-mini');
    expect(response.headers.get('x-router-provider')).toBe('openai');
    expect(response.headers.get('x-router-attempts')).toBe('1');
    expect(response.headers.get('x-router-request-id')).toBeTruthy();
    // The cost header is the usage at the registry's prices (gpt-4o-mini: $0.15 / $0.60 per million).
    const expected = (data.usage!.prompt_tokens * 0.15 + data.usage!.completion_tokens * 0.6) / 1e6;
    expect(Number(response.headers.get('x-router-cost-usd'))).toBeCloseTo(expected, 12);
  });

  it('sends a whole answer with its length, as res.json would, not chunked (multi-byte text included)', async () => {
    const content = 'Réponds en français, s’il te plaît: 世界 👋';
    const res = await fetch(`${api.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content }], max_tokens: 50 }),
    });
    const body = Buffer.from(await res.arrayBuffer());
    expect(res.status).toBe(200);
    expect(res.headers.get('transfer-encoding')).toBeNull();
    expect(res.headers.get('content-length')).toBe(String(body.length));
    // The mock echoes the prompt: the body holds multi-byte characters, so bytes and characters differ.
    const text = body.toString('utf8');
    expect(text).toContain('世界 👋');
    expect(body.length).toBeGreaterThan(text.length);
    expect((JSON.parse(text) as { object: string }).object).toBe('chat.completion');
  });

  it('routes router/cheapest with the router options as /api/v1/route would', async () => {
    const routeRes = await fetch(`${api.url}/api/v1/route`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: 'Pick a model', max_tokens: 30, strategy: 'cheapest', providers: ['anthropic'] }),
    });
    const decided = (await routeRes.json()) as { model_id: string };
    const { data, response } = await client.chat.completions
      .create({
        model: 'router/cheapest',
        messages: [{ role: 'user', content: 'Pick a model' }],
        max_tokens: 30,
        // @ts-expect-error the gateway's extra body field
        router: { providers: ['anthropic'] },
      })
      .withResponse();
    expect(response.headers.get('x-router-model')).toBe(decided.model_id);
    expect(data.model).toBe(decided.model_id);
  });

  it('streams with SSE, with usage when asked (stream_options.include_usage)', async () => {
    const stream = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'Stream me something' }],
      max_tokens: 40,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let usage: OpenAI.CompletionUsage | null | undefined = null;
    let chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      text += chunk.choices[0]?.delta.content ?? '';
      if (chunk.usage) usage = chunk.usage;
      expect(chunk.model).toBe('gpt-4o-mini');
    }
    expect(chunks).toBeGreaterThan(2);
    expect(text).toContain('mock response from gpt-4o-mini');
    expect(usage!.completion_tokens).toBeGreaterThan(0);
  });

  it('passes tools through and returns tool calls, streamed and not', async () => {
    const tools: OpenAI.ChatCompletionTool[] = [
      {
        type: 'function',
        function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } },
      },
    ];
    for (const model of ['gpt-4o-mini', 'claude-haiku-4-5', 'gemini-2.5-flash']) {
      const plain = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'Weather in Paris?' }], tools, max_tokens: 100 });
      const call = plain.choices[0]!.message.tool_calls![0]! as OpenAI.ChatCompletionMessageFunctionToolCall;
      expect(plain.choices[0]!.finish_reason).toBe('tool_calls');
      expect(call.function.name).toBe('get_weather');
      expect(JSON.parse(call.function.arguments)).toEqual({ city: 'mock' });

      const stream = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'Weather in Paris?' }], tools, max_tokens: 100, stream: true });
      let name = '';
      let args = '';
      let finish: string | null = null;
      for await (const chunk of stream) {
        for (const delta of chunk.choices[0]?.delta.tool_calls ?? []) {
          name += delta.function?.name ?? '';
          args += delta.function?.arguments ?? '';
        }
        finish = chunk.choices[0]?.finish_reason ?? finish;
      }
      expect([model, name, JSON.parse(args), finish]).toEqual([model, 'get_weather', { city: 'mock' }, 'tool_calls']);
    }
  });

  it.each([
    ['claude-haiku-4-5', 'anthropic'],
    ['gemini-2.5-flash', 'google'],
  ])('answers an OpenAI request with %s (%s wire format), streamed and not', async (model, provider) => {
    const before = await mockStats(model);
    const { data, response } = await client.chat.completions
      .create({ model, messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hello there' }], max_tokens: 60 })
      .withResponse();
    expect(response.headers.get('x-router-provider')).toBe(provider);
    expect(data.model).toBe(model);
    expect(data.choices[0]!.message.content).toContain(`mock response from ${model}`);
    expect(data.usage!.prompt_tokens).toBeGreaterThan(0);

    const stream = await client.chat.completions.create({
      model,
      messages: [{ role: 'user', content: 'Hello there' }],
      max_tokens: 60,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let usage: OpenAI.CompletionUsage | null | undefined = null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toContain(`mock response from ${model}`);
    expect(usage!.completion_tokens).toBeGreaterThan(0);
    // Both calls reached the mock on the model's own wire format.
    expect((await mockStats(model)).ok - before.ok).toBe(2);
  });

  it('records every call: usage by model counts the gateway calls with the provider usage', async () => {
    const model = 'gpt-4.1-mini';
    let prompt = 0;
    let completion = 0;
    for (let i = 0; i < 3; i++) {
      const r = await client.chat.completions.create({ model, messages: [{ role: 'user', content: `count me ${i}` }], max_tokens: 20 });
      prompt += r.usage!.prompt_tokens;
      completion += r.usage!.completion_tokens;
    }
    const from = new Date(Date.now() - 3_600_000).toISOString();
    const to = new Date(Date.now() + 3_600_000).toISOString();
    const row = await waitForDefined(
      async () => {
        const res = await fetch(`${api.url}/api/v1/usage?from=${from}&to=${to}&group_by=model`);
        const body = (await res.json()) as { rows: Array<{ key: string; request_count: number; prompt_tokens: number; completion_tokens: number; success_count: number }> };
        const r = body.rows.find((x) => x.key === model);
        return r && r.request_count >= 3 ? r : undefined;
      },
      { timeoutMs: 15_000, what: 'usage of the gateway calls' },
    );
    expect(row).toMatchObject({ request_count: 3, success_count: 3, prompt_tokens: prompt, completion_tokens: completion });
  });
});

describe('registry models pointed at a provider', () => {
  it('calls upstream_model on the model\'s api with the key named by api_key_env, and never shows the key', async () => {
    process.env.GATEWAY_TEST_ANTHROPIC_KEY = 'sk-ant-test-secret-value-0123456789';
    const created = await admin('POST', '/api/v1/models', {
      id: 'team-claude',
      name: 'Team Claude',
      provider: 'anthropic',
      input_price_per_1k: 0.001,
      output_price_per_1k: 0.005,
      context_window: 200_000,
      max_output_tokens: 8_192,
      capabilities: ['chat', 'tools'],
      endpoint: `${mock.url}/v1`,
      api: 'anthropic',
      api_key_env: 'GATEWAY_TEST_ANTHROPIC_KEY',
      upstream_model: 'claude-haiku-4-5',
      timeout_ms: 30_000,
    });
    expect(created.status).toBe(201);
    const stored = (await created.json()) as Record<string, unknown>;
    expect(stored).toMatchObject({ api: 'anthropic', api_key_env: 'GATEWAY_TEST_ANTHROPIC_KEY', upstream_model: 'claude-haiku-4-5', timeout_ms: 30_000 });
    const r = await client.chat.completions.create({ model: 'team-claude', messages: [{ role: 'user', content: 'who are you' }], max_tokens: 40 });
    // The client sees the registry id; the provider was asked for its own name of the model.
    expect(r.model).toBe('team-claude');
    expect(r.choices[0]!.message.content).toContain('mock response from claude-haiku-4-5');
    const listing = await (await admin('GET', '/api/v1/models')).text();
    expect(listing).toContain('GATEWAY_TEST_ANTHROPIC_KEY');
    expect(listing).not.toContain(process.env.GATEWAY_TEST_ANTHROPIC_KEY);
  });

  it('refuses a secret in api_key_env, and names a missing variable without calling the provider', async () => {
    const base = { name: 'x', provider: 'openai', input_price_per_1k: 0, output_price_per_1k: 0, context_window: 1000, max_output_tokens: 100, endpoint: `${mock.url}/v1` };
    const secret = await admin('POST', '/api/v1/models', { ...base, id: 'leaky', api_key_env: 'sk-proj-abc123-def456' });
    expect(secret.status).toBe(400);
    expect(await secret.text()).not.toContain('sk-proj-abc123-def456"');
    // Nor may a model have the router's own secrets sent to its endpoint.
    for (const name of ['ADMIN_API_KEY', 'DATABASE_URL', 'REDIS_URL']) {
      expect((await admin('POST', '/api/v1/models', { ...base, id: `steal-${name.toLowerCase()}`, api_key_env: name })).status).toBe(400);
    }
    expect((await admin('POST', '/api/v1/models', { ...base, id: 'keyless', api_key_env: 'GATEWAY_TEST_UNSET_KEY' })).status).toBe(201);
    delete process.env.GATEWAY_TEST_UNSET_KEY;
    const before = ((await (await fetch(`${mock.url}/_control/stats`, { headers: MOCK_CONTROL })).json()) as MockStats).requests;
    const error = await client.chat.completions.create({ model: 'keyless', messages: [{ role: 'user', content: 'x' }], max_tokens: 10 }).then(
      () => null,
      (e: unknown) => e as InstanceType<typeof OpenAI.APIError>,
    );
    expect([error!.status, error!.code]).toEqual([502, 'model_misconfigured']);
    expect(error!.message).toContain('GATEWAY_TEST_UNSET_KEY');
    expect(((await (await fetch(`${mock.url}/_control/stats`, { headers: MOCK_CONTROL })).json()) as MockStats).requests).toBe(before);
  });
});

describe('what each attempt records', () => {
  interface Row {
    source: string;
    success: boolean;
    prompt_tokens: string | number;
    completion_tokens: string | number;
    ttft_ms: number | null;
    tokens_estimated: boolean;
    latency_ms: number;
  }
  const rowsOf = async (requestId: string): Promise<Row[]> => {
    const db = new pg.Client({ connectionString: env.databaseUrl });
    await db.connect();
    try {
      const { rows } = await db.query<Row>(
        'SELECT source, success, prompt_tokens, completion_tokens, ttft_ms, tokens_estimated, latency_ms FROM model_router.metric_events WHERE request_id = $1',
        [requestId],
      );
      return rows;
    } finally {
      await db.end();
    }
  };

  it('a provider-counted answer: source gateway, time to first token, tokens as reported', async () => {
    const { data, response } = await client.chat.completions
      .create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'record me' }], max_tokens: 30, stream: true, stream_options: { include_usage: true } })
      .withResponse();
    let usage: OpenAI.CompletionUsage | null | undefined = null;
    for await (const chunk of data) if (chunk.usage) usage = chunk.usage;
    const rows = await waitForDefined(async () => {
      const found = await rowsOf(response.headers.get('x-router-request-id')!);
      return found.length ? found : undefined;
    }, { timeoutMs: 15_000, what: 'the attempt stored' });
    expect(rows).toHaveLength(1);
    expect({ ...rows[0], prompt_tokens: Number(rows[0]!.prompt_tokens), completion_tokens: Number(rows[0]!.completion_tokens) }).toMatchObject({
      source: 'gateway',
      success: true,
      tokens_estimated: false,
      prompt_tokens: usage!.prompt_tokens,
      completion_tokens: usage!.completion_tokens,
    });
    expect(rows[0]!.ttft_ms).toBeGreaterThan(0);
    expect(rows[0]!.ttft_ms).toBeLessThanOrEqual(rows[0]!.latency_ms);
  });

  it('a stream cut before the provider sent usage is recorded with the streamed text counted, never zero', async () => {
    const model = 'mistral-large-latest';
    await fetch(`${mock.url}/_control/models/${model}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', ...MOCK_CONTROL },
      body: JSON.stringify({ error_rate: 1, error_kind: 'mid_stream_reset', fail_after_pieces: 4 }),
    });
    try {
      const { data, response } = await client.chat.completions
        .create({ model, messages: [{ role: 'user', content: 'cut me off please' }], max_tokens: 60, stream: true })
        .withResponse();
      let text = '';
      const error = await (async () => {
        for await (const chunk of data) text += chunk.choices[0]?.delta.content ?? '';
      })().then(
        () => null,
        (e: unknown) => e,
      );
      expect(error).not.toBeNull();
      expect(text.length).toBeGreaterThan(0);
      const rows = await waitForDefined(async () => {
        const found = await rowsOf(response.headers.get('x-router-request-id')!);
        return found.length ? found : undefined;
      }, { timeoutMs: 15_000, what: 'the attempt stored' });
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ source: 'gateway', success: false, tokens_estimated: true });
      expect(Number(rows[0]!.completion_tokens)).toBeGreaterThan(0);
      expect(Number(rows[0]!.prompt_tokens)).toBeGreaterThan(0);
    } finally {
      await fetch(`${mock.url}/_control/models/${model}`, { method: 'DELETE', headers: MOCK_CONTROL });
    }
  });
});

describe('bad input answers in OpenAI shape (the client raises its typed errors)', () => {
  it.each([
    ['an unknown model', { model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] }, 404, 'model_not_found', 'model'],
    ['an unknown router strategy', { model: 'router/smartest', messages: [{ role: 'user', content: 'x' }] }, 404, 'model_not_found', 'model'],
    ['malformed messages', { model: 'gpt-4o-mini', messages: [{ role: 'robot', content: 'x' }] }, 400, 'invalid_value', 'messages.0.role'],
    ['no messages', { model: 'gpt-4o-mini', messages: [] }, 400, 'invalid_value', 'messages'],
    ['n > 1', { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }], n: 2 }, 400, 'invalid_value', 'n'],
    ['an unknown field', { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }], temprature: 1 }, 400, 'unknown_parameter', 'temprature'],
    ['an unknown router option', { model: 'router/cheapest', messages: [{ role: 'user', content: 'x' }], router: { fastest: true } }, 400, 'unknown_parameter', 'router.fastest'],
    ['max_tokens above the model', { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }], max_tokens: 100_000 }, 400, 'invalid_value', 'max_tokens'],
  ])('%s', async (_what, body, status, code, param) => {
    const before = (await (await fetch(`${mock.url}/_control/stats`, { headers: MOCK_CONTROL })).json()) as MockStats;
    const error = await client.chat.completions.create(body as never).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(OpenAI.APIError);
    const e = error as InstanceType<typeof OpenAI.APIError>;
    expect([e.status, e.code, e.param]).toEqual([status, code, param]);
    expect(e.type).toBe('invalid_request_error');
    // Nothing was called.
    const after = (await (await fetch(`${mock.url}/_control/stats`, { headers: MOCK_CONTROL })).json()) as MockStats;
    expect(after.requests).toBe(before.requests);
  });

  it('answers invalid JSON and a wrong content type in OpenAI shape', async () => {
    const bad = await fetch(`${api.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"model":' });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { type: string; code: string } }).error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_json' });
    const empty = await fetch(`${api.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' } });
    expect(empty.status).toBe(400);
    const text = await fetch(`${api.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hello' });
    expect(text.status).toBe(415);
    expect(Object.keys(((await text.json()) as { error: object }).error).sort()).toEqual(['code', 'message', 'param', 'type']);
  });
});

describe('A/B tests through the gateway', () => {
  it('assigns by user and the results count exactly the calls made', async () => {
    const created = await admin('POST', '/api/v1/abtests', {
      name: 'gateway ab',
      variants: [
        { id: 'mini', model_id: 'gpt-4o-mini', weight: 0.5 },
        { id: 'haiku', model_id: 'claude-haiku-4-5', weight: 0.5 },
      ],
    });
    expect(created.status).toBe(201);
    const test = (await created.json()) as { id: string };
    expect((await admin('POST', `/api/v1/abtests/${test.id}/start`)).status).toBe(200);
    await waitUntil(() => api.snapshots.current.runningTests.has(test.id), { timeoutMs: 5_000, what: 'test running on the replica' });

    const seen = new Map<string, number>();
    const users = Array.from({ length: 24 }, (_, i) => `ab-user-${i}`);
    for (const user of users) {
      const { data, response } = await client.chat.completions
        .create({ model: 'router/balanced', messages: [{ role: 'user', content: 'A or B?' }], max_tokens: 20, user })
        .withResponse();
      expect(response.headers.get('x-router-ab-test')).toBe(test.id);
      const variant = response.headers.get('x-router-variant')!;
      expect(data.model).toBe(variant === 'mini' ? 'gpt-4o-mini' : 'claude-haiku-4-5');
      seen.set(variant, (seen.get(variant) ?? 0) + 1);
    }
    // The same user keeps the same variant.
    const again = await client.chat.completions
      .create({ model: 'router/balanced', messages: [{ role: 'user', content: 'A or B?' }], max_tokens: 20, user: users[0] })
      .withResponse();
    const firstVariant = again.response.headers.get('x-router-variant')!;
    seen.set(firstVariant, seen.get(firstVariant)! + 1);

    const results = await waitForDefined(
      async () => {
        const body = (await (await fetch(`${api.url}/api/v1/abtests/${test.id}/results`)).json()) as { results: Record<string, { request_count: number; success_count: number }> };
        const total = Object.values(body.results).reduce((n, r) => n + r.request_count, 0);
        return total >= users.length + 1 ? body.results : undefined;
      },
      { timeoutMs: 15_000, what: 'A/B results of the gateway calls' },
    );
    for (const [variant, calls] of seen) expect(results[variant]).toMatchObject({ request_count: calls, success_count: calls });
    expect(Object.values(results).reduce((n, r) => n + r.request_count, 0)).toBe(users.length + 1);
    expect((await admin('POST', `/api/v1/abtests/${test.id}/complete`)).status).toBe(200);
  });
});

describe("the README's gateway examples (as written, against this test's API)", () => {
  const block = (lang: string): string => readmeBlock(lang).replaceAll('http://127.0.0.1:9004', api.url);

  it('the curl example', async () => {
    const stdout = await runBash(block('bash'));
    const body = JSON.parse(stdout) as { object: string; model: string; choices: Array<{ message: { content: string } }> };
    expect(body.object).toBe('chat.completion');
    expect(body.choices[0]!.message.content).toContain(`mock response from ${body.model}`);
  });

  it('the Node example with the official openai client', async () => {
    const stdout = await runNodeExample('integration', block('js'));
    expect(stdout).toContain('mock response from claude-haiku-4-5');
    expect(stdout).toMatch(/claude-haiku-4-5 \d/);
    expect(stdout).toContain('completion_tokens');
  });
});

describe('request ids', () => {
  it('every gateway answer carries x-request-id (the caller\'s when it sends a safe one): whole, streamed and refused', async () => {
    const post = (body: unknown, headers: Record<string, string> = {}) =>
      fetch(`${api.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer unused', ...headers }, body: JSON.stringify(body) });
    const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello' }], max_tokens: 10 };
    const cases: Array<[string, unknown, number]> = [
      ['whole', chat, 200],
      ['streamed', { ...chat, stream: true }, 200],
      ['invalid', { ...chat, messages: 'not a list' }, 400],
      ['unknown model', { ...chat, model: 'no-such-model' }, 404],
    ];
    for (const [name, body, status] of cases) {
      const made = await post(body);
      expect([name, made.status]).toEqual([name, status]);
      await made.arrayBuffer();
      expect([name, made.headers.get('x-request-id')]).toEqual([name, expect.stringMatching(/^[0-9a-f-]{36}$/)]);
      if (status === 200) expect(made.headers.get('x-router-request-id')).toBe(made.headers.get('x-request-id'));
      const echoed = await post(body, { 'x-request-id': `caller-${name.replace(/ /g, '-')}` });
      await echoed.arrayBuffer();
      expect([name, echoed.headers.get('x-request-id')]).toEqual([name, `caller-${name.replace(/ /g, '-')}`]);
    }
  });
});

describe('when Redis is unavailable', () => {
  it('calls are still answered, and each record that could not be stored is counted as lost', async () => {
    const down = await startMockGateway({}, 'unused-no-client-key-configured');
    try {
      down.api.redis.disconnect();
      const calls = 3;
      for (let i = 0; i < calls; i++) {
        const answer = await down.client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: `hello ${i}` }], max_tokens: 5 });
        expect(answer.choices[0]!.message.content).toContain('mock response');
      }
      // One metric event and one cost event per call (the model is priced), each counted once.
      const lost = (text: string, event: string) => Number(new RegExp(`model_router_events_lost_total\\{[^}]*event="${event}"[^}]*\\} (\\d+)`).exec(text)?.[1] ?? 0);
      let text = '';
      await waitUntil(
        async () => {
          text = await (await fetch(`${down.api.url}/metrics`)).text();
          return lost(text, 'metric.recorded') === calls && lost(text, 'cost.recorded') === calls;
        },
        { timeoutMs: 5_000, what: 'the lost records counted' },
      );
      expect(lost(text, 'metric.recorded')).toBe(calls);
      expect(lost(text, 'cost.recorded')).toBe(calls);
    } finally {
      await down.stop();
    }
  });
});
