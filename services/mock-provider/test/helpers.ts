import { expect } from '@jest/globals';
import { createLogger } from '@model-router/logger';
import type { Express } from 'express';
import { Registry } from 'prom-client';
import { createMockProviderApp, type MockProviderAppOptions } from '../src/app.js';
import { type InitialSettings, SettingsStore } from '../src/settings.js';

export const logger = createLogger('mock-provider-test', 'error');

/** The control API's key in these tests, and the header that presents it. */
export const CONTROL_KEY = 'test-control-key-0123456789';
export const CONTROL = { Authorization: `Bearer ${CONTROL_KEY}` };

/** A `random` that answers `values` in turn, cycling; records how often it was called. */
export function sequence(...values: number[]): (() => number) & { calls: number } {
  const fn = Object.assign(
    () => {
      const value = values[fn.calls % values.length]!;
      fn.calls += 1;
      return value;
    },
    { calls: 0 },
  );
  return fn;
}

export interface TestApp {
  app: Express;
  settings: SettingsStore;
}

/** The express app alone (no port), with its own settings and registry. */
export function makeApp(
  initial: InitialSettings = {},
  options: Partial<Omit<MockProviderAppOptions, 'logger' | 'settings' | 'registry'>> = {},
): TestApp {
  const settings = new SettingsStore(initial);
  const app = createMockProviderApp({ logger, settings, registry: new Registry(), random: sequence(0.5), controlApiKey: CONTROL_KEY, ...options });
  return { app, settings };
}

export const chat = (model: string, content = 'Hello there, mock!', extra: Record<string, unknown> = {}) => ({
  model,
  messages: [{ role: 'user', content }],
  ...extra,
});

/** OpenAI's error shape: `{"error": {"message", "type", "param", "code"}}` and nothing else. */
export function expectOpenAIError(body: unknown, type: string, code?: string): void {
  expect(Object.keys(body as object)).toEqual(['error']);
  expect(body).toMatchObject({ error: { message: expect.any(String), type, ...(code ? { code } : {}) } });
  expect(Object.keys((body as { error: object }).error).sort()).toEqual(['code', 'message', 'param', 'type']);
}
