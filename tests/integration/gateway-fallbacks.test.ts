/**
 * The gateway's attempts against the mock provider's injected failures: each failure before the
 * first byte goes to the next model of the ranking, exactly once; a failure after the first
 * streamed byte ends the stream with an error and no fallback; a 429 keeps the model out of routing
 * for its window; attempts are bounded; a client that leaves aborts the upstream call.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import OpenAI from 'openai';
import { type TestEnv, waitUntil } from '../support/index.js';
import { MOCK_CONTROL, type MockGateway, startMockGateway } from '../support/mock-gateway.js';

let gateway: MockGateway;
let env: TestEnv;
let mock: MockGateway['mock'];
let api: MockGateway['api'];
let client: OpenAI;

beforeAll(async () => {
  gateway = await startMockGateway({
    // A stalled provider is given up after this long (and the next model tried).
    'gateway.first_byte_timeout': 2500,
  });
  ({ env, mock, api, client } = gateway);
}, 60_000);

afterAll(async () => {
  await gateway?.stop();
});

afterEach(async () => {
  await fetch(`${mock.url}/_control/reset`, { method: 'POST', headers: MOCK_CONTROL });
});

const control = async (path: string, settings: Record<string, unknown>) => {
  const res = await fetch(`${mock.url}/_control/${path}`, { method: 'PUT', headers: { 'content-type': 'application/json', ...MOCK_CONTROL }, body: JSON.stringify(settings) });
  expect(res.status).toBe(200);
};

interface Stats {
  requests: number;
  ok: number;
  failed: number;
  aborted: number;
}
async function stats(): Promise<{ total: Stats; by_model: Record<string, Stats> }> {
  const body = (await (await fetch(`${mock.url}/_control/stats`, { headers: MOCK_CONTROL })).json()) as Stats & { by_model: Record<string, Stats> };
  return { total: body, by_model: body.by_model };
}
const zero: Stats = { requests: 0, ok: 0, failed: 0, aborted: 0 };
const of = (s: { by_model: Record<string, Stats> }, model: string) => s.by_model[model] ?? zero;

/** Sum of the gateway's attempt counter for one outcome (Prometheus text of the API's /metrics). */
async function attemptsCounted(outcome: string): Promise<number> {
  const text = await (await fetch(`${api.url}/metrics`)).text();
  return text
    .split('\n')
    .filter((line) => line.startsWith('model_router_gateway_attempts_total{') && line.includes(`outcome="${outcome}"`))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

/** router/cheapest among Mistral's models ranks mistral-small-latest, then mistral-large-latest. */
const mistral = { model: 'router/cheapest', messages: [{ role: 'user' as const, content: 'Fall back please' }], max_tokens: 20, router: { providers: ['mistral'] } };
const FIRST = 'mistral-small-latest';
const SECOND = 'mistral-large-latest';

describe('fallback before the first byte', () => {
  it.each(['server_error', 'overloaded', 'reset', 'stall'])('%s on the first model → exactly one call to the next', async (kind) => {
    await control(`models/${FIRST}`, { error_rate: 1, error_kind: kind });
    for (const stream of [false, true]) {
      const before = await stats();
      const { data, response } = await client.chat.completions.create({ ...mistral, stream } as never).withResponse();
      let model: string;
      if (stream) {
        let text = '';
        for await (const chunk of data as unknown as AsyncIterable<OpenAI.ChatCompletionChunk>) text += chunk.choices[0]?.delta.content ?? '';
        expect(text).toContain(`mock response from ${SECOND}`);
        model = response.headers.get('x-router-model')!;
      } else {
        model = (data as OpenAI.ChatCompletion).model;
      }
      expect([model, response.headers.get('x-router-attempts')]).toEqual([SECOND, '2']);
      // The mock's own count: one call to each, the first failed (a stalled one ends aborted).
      await waitUntil(async () => {
        const after = await stats();
        return of(after, FIRST).requests - of(before, FIRST).requests === 1 && of(after, FIRST).ok === of(before, FIRST).ok && of(after, SECOND).ok - of(before, SECOND).ok === 1;
      }, { timeoutMs: 5_000, what: `one failed call to ${FIRST} and one answered by ${SECOND}` });
      expect((await stats()).total.requests - before.total.requests).toBe(2);
    }
  });

  it('429 with Retry-After: the next model answers, and the limited one stays out of routing on every path', async () => {
    // deepseek-chat ranks before deepseek-reasoner (same prices, lower nominal latency).
    const request = { model: 'router/cheapest', messages: [{ role: 'user' as const, content: 'limited' }], max_tokens: 20, router: { providers: ['deepseek'] } };
    await control('models/deepseek-chat', { error_rate: 1, error_kind: 'rate_limit', retry_after_s: 30 });
    const first = await client.chat.completions.create(request as never).withResponse();
    expect([first.data.model, first.response.headers.get('x-router-attempts')]).toEqual(['deepseek-reasoner', '2']);
    const before = await stats();
    const second = await client.chat.completions.create(request as never).withResponse();
    // Not even tried: the window has not reset.
    expect([second.data.model, second.response.headers.get('x-router-attempts')]).toEqual(['deepseek-reasoner', '1']);
    expect(of(await stats(), 'deepseek-chat').requests).toBe(of(before, 'deepseek-chat').requests);
    // /api/v1/route sees it too, with the reason.
    const routed = (await (
      await fetch(`${api.url}/api/v1/route?explain=true`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ prompt: 'limited', max_tokens: 20, strategy: 'cheapest', providers: ['deepseek'] }),
      })
    ).json()) as { model_id: string; excluded: Array<{ model_id: string; reason: string }> };
    expect(routed.model_id).toBe('deepseek-reasoner');
    expect(routed.excluded).toContainEqual({ model_id: 'deepseek-chat', reason: 'rate_limited' });
    // A named call to it is refused at once with Retry-After.
    const named = await client.chat.completions.create({ ...request, model: 'deepseek-chat' } as never).then(
      () => null,
      (e: unknown) => e as InstanceType<typeof OpenAI.APIError>,
    );
    expect([named!.status, named!.code]).toEqual([429, 'rate_limit_exceeded']);
    expect(Number(named!.headers?.get('retry-after'))).toBeGreaterThan(20);
  });

  it("an exhausted window in a provider's rate-limit headers keeps the model out before it answers 429", async () => {
    // Anthropic's surface: anthropic-ratelimit-requests-remaining / -reset on every answer.
    const limited = 'claude-3-5-haiku-20241022';
    const request = { model: 'router/cheapest', messages: [{ role: 'user' as const, content: 'window' }], max_tokens: 20, router: { providers: ['anthropic'] } };
    await control(`models/${limited}`, { rate_limit_requests: 2, rate_limit_window_ms: 60_000 });
    const before = await stats();
    const models: string[] = [];
    for (let i = 0; i < 4; i++) {
      const { data, response } = await client.chat.completions.create(request as never).withResponse();
      expect(response.headers.get('x-router-attempts')).toBe('1');
      models.push(data.model);
    }
    // Two calls used the window up (the second answer said 0 remain); the rest went elsewhere at once.
    expect(models).toEqual([limited, limited, 'claude-haiku-4-5', 'claude-haiku-4-5']);
    const after = of(await stats(), limited);
    expect([after.requests - of(before, limited).requests, after.failed - of(before, limited).failed]).toEqual([2, 0]);
  });

  it("respects the client's deadline: a stall that uses it up leaves no time for a fallback", async () => {
    await control(`models/${FIRST}`, { error_rate: 1, error_kind: 'stall' });
    const before = await stats();
    const error = await client.chat.completions.create({ ...mistral, router: { ...mistral.router, timeout_ms: 800 } } as never).then(
      () => null,
      (e: unknown) => e as InstanceType<typeof OpenAI.APIError>,
    );
    expect([error!.status, error!.code]).toEqual([504, 'timeout']);
    expect(error!.headers?.get('x-router-attempts')).toBe('1');
    expect(of(await stats(), SECOND).requests).toBe(of(before, SECOND).requests);
  });

  it('stops after gateway.max_attempts (3) and answers the last upstream error', async () => {
    await control('defaults', { error_rate: 1, error_kind: 'server_error' });
    const before = await stats();
    const failuresBefore = await attemptsCounted('failure');
    const error = await client.chat.completions
      .create({ model: 'router/cheapest', messages: [{ role: 'user', content: 'all fail' }], max_tokens: 20 })
      .then(
        () => null,
        (e: unknown) => e as InstanceType<typeof OpenAI.APIError>,
      );
    expect(error!.status).toBe(502);
    expect(error!.headers?.get('x-router-attempts')).toBe('3');
    expect((await stats()).total.requests - before.total.requests).toBe(3);
    // Each attempt is counted for operators too.
    expect((await attemptsCounted('failure')) - failuresBefore).toBe(3);
  });
});

describe('after the first streamed byte', () => {
  it('a mid-stream failure ends the stream with an error event and no fallback', async () => {
    await control(`models/${FIRST}`, { error_rate: 1, error_kind: 'mid_stream_error', fail_after_pieces: 3 });
    const before = await stats();
    const stream = await client.chat.completions.create({ ...mistral, stream: true } as never);
    let text = '';
    const error = await (async () => {
      for await (const chunk of stream as unknown as AsyncIterable<OpenAI.ChatCompletionChunk>) text += chunk.choices[0]?.delta.content ?? '';
      return null;
    })().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect(text.length).toBeGreaterThan(0);
    const after = await stats();
    expect(of(after, FIRST).requests - of(before, FIRST).requests).toBe(1);
    expect(of(after, SECOND).requests - of(before, SECOND).requests).toBe(0);
  });

  it('a client that disconnects while waiting for a whole answer aborts the upstream call, with no fallback', async () => {
    // The answer takes two seconds; the client gives up long before.
    await control(`models/${FIRST}`, { latency_ms: 2_000 });
    const before = await stats();
    const attemptsBefore = await attemptsCounted('client_gone');
    const abort = new AbortController();
    const call = client.chat.completions.create(mistral, { signal: abort.signal }).catch((error: unknown) => error);
    await waitUntil(async () => of(await stats(), FIRST).requests - of(before, FIRST).requests === 1, { timeoutMs: 5_000, what: 'the upstream call made' });
    abort.abort();
    expect(await call).toBeInstanceOf(Error);
    await waitUntil(async () => of(await stats(), FIRST).aborted - of(before, FIRST).aborted === 1, { timeoutMs: 5_000, what: 'the upstream call aborted' });
    await waitUntil(async () => (await attemptsCounted('client_gone')) - attemptsBefore === 1, { timeoutMs: 5_000, what: 'the attempt counted as client_gone' });
    // Nothing else was tried for a client that is gone.
    const after = await stats();
    expect(after.total.requests - before.total.requests).toBe(1);
    expect(of(after, FIRST).ok).toBe(of(before, FIRST).ok);
  });

  it('a client that disconnects aborts the upstream call', async () => {
    // One word every half second: the answer takes seconds, the client leaves after the first.
    await control(`models/${FIRST}`, { tokens_per_second: 2 });
    const before = await stats();
    const abort = new AbortController();
    const stream = await client.chat.completions.create({ ...mistral, stream: true } as never, { signal: abort.signal });
    const iterator = (stream as unknown as AsyncIterable<OpenAI.ChatCompletionChunk>)[Symbol.asyncIterator]();
    await iterator.next();
    abort.abort();
    await iterator.next().catch(() => undefined);
    await waitUntil(async () => of(await stats(), FIRST).aborted - of(before, FIRST).aborted === 1, { timeoutMs: 5_000, what: 'the upstream call aborted' });
    expect(of(await stats(), FIRST).ok).toBe(of(before, FIRST).ok);
  });
});
