import { createLogger } from '@model-router/logger';
import { ADMIN_KEY, createTestEnv, type TestEnv } from '@model-router/tests/support';
import { startApi, type RunningApi } from '../src/index.js';

export { ADMIN_KEY, CLIENT_KEY } from '@model-router/tests/support';
export const ADMIN = { Authorization: `Bearer ${ADMIN_KEY}` };

export interface Harness {
  env: TestEnv;
  api: RunningApi;
  stop(): Promise<void>;
}

/** A real API on a fresh database and Redis prefix, listening on a random port. */
export async function startHarness(overrides: Record<string, unknown> = {}): Promise<Harness> {
  const env = await createTestEnv();
  const api = await startApi(env.config(overrides), createLogger('api-test', 'error'));
  return {
    env,
    api,
    async stop() {
      await api.stop();
      await env.cleanup();
    },
  };
}
