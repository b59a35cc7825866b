/**
 * The gateway against the mock provider, in-process: a real API on the test file's own database
 * and Redis prefix, every catalog endpoint pointed at a mock provider, and the official `openai`
 * client on the API's /v1 (no retries of its own: every retry is the gateway's).
 */
import { type RunningApi, startApi } from '@model-router/api';
import { type Config, DEVELOPMENT_ADMIN_API_KEY } from '@model-router/config';
import { createLogger } from '@model-router/logger';
import { startMockProvider } from '@model-router/mock-provider';
import OpenAI from 'openai';
import { createTestEnv, type TestEnv } from './index.js';

/** The mock's control API needs its key: startMockProvider's default, the development key. */
export const MOCK_CONTROL = { authorization: `Bearer ${DEVELOPMENT_ADMIN_API_KEY}` };

export const quietLogger = (name: string) => createLogger(name, 'error');

export interface MockGateway {
  env: TestEnv;
  mock: Awaited<ReturnType<typeof startMockProvider>>;
  /** The API's config, for workers started beside it. */
  config: Config;
  api: RunningApi;
  client: OpenAI;
  /** Stops the API and the mock, then drops the database and keys. */
  stop(): Promise<void>;
}

export async function startMockGateway(overrides: Record<string, unknown> = {}, clientApiKey = 'unused'): Promise<MockGateway> {
  const env = await createTestEnv();
  const mock = await startMockProvider({ host: '127.0.0.1', port: 0, logger: quietLogger('mock') });
  const config = env.config({ 'catalog.endpoint_base_url': `${mock.url}/v1`, ...overrides });
  const api = await startApi(config, quietLogger('api'));
  const client = new OpenAI({ baseURL: `${api.url}/v1`, apiKey: clientApiKey, maxRetries: 0 });
  return {
    env,
    mock,
    config,
    api,
    client,
    async stop() {
      await api.stop();
      await mock.stop();
      await env.cleanup();
    },
  };
}

/**
 * A model the mock serves at 1 USD per 1,000 input tokens with output free: a call's actual cost
 * (the prompt tokens, which the mock counts with the router's tokenizer) equals its reserved
 * estimate exactly, so how many calls fit a budget does not depend on timing.
 */
export function mockPricedModel(id: string, provider: string, mockUrl: string) {
  return {
    id,
    name: id,
    provider,
    input_price_per_1k: 1,
    output_price_per_1k: 0,
    context_window: 100_000,
    max_output_tokens: 1_000,
    capabilities: ['chat'],
    endpoint: `${mockUrl}/v1`,
    api: 'openai',
  };
}
