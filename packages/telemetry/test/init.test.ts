import { describe, expect, it } from '@jest/globals';
import { initTelemetry, tracingEnabled, tracingRequested } from '../src/index.js';

describe('tracing is configured by the OTEL_* variables only', () => {
  it.each<[string, NodeJS.ProcessEnv, boolean]>([
    ['nothing set', {}, false],
    ['an OTLP endpoint', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' }, true],
    ['a traces endpoint', { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://127.0.0.1:4318/v1/traces' }, true],
    ['an exporter named', { OTEL_TRACES_EXPORTER: 'otlp' }, true],
    ['exporter none', { OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' }, false],
    ['the SDK disabled', { OTEL_SDK_DISABLED: 'true', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' }, false],
    ['the SDK disabled, any case', { OTEL_SDK_DISABLED: 'TRUE', OTEL_TRACES_EXPORTER: 'otlp' }, false],
  ])('%s', (_, env, on) => {
    expect(tracingRequested(env)).toBe(on);
  });

  it('without them, init starts nothing and the hot path sees tracing off', async () => {
    const telemetry = await initTelemetry('test', { env: {} });
    expect(telemetry.enabled).toBe(false);
    expect(tracingEnabled()).toBe(false);
    await telemetry.shutdown();
  });

  it('OTEL_SDK_DISABLED=true wins even over processors given in code', async () => {
    const telemetry = await initTelemetry('test', { env: { OTEL_SDK_DISABLED: 'true' }, spanProcessors: [] });
    expect(telemetry.enabled).toBe(false);
    expect(tracingEnabled()).toBe(false);
  });
});
