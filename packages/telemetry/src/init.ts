import type { SpanProcessor } from '@opentelemetry/sdk-trace';

/** The running tracing SDK of this process, or the stand-in that does nothing. */
export interface Telemetry {
  /** True when spans are recorded and exported. */
  readonly enabled: boolean;
  /** Exports the spans still buffered and stops the SDK; nothing to do when tracing is off. */
  shutdown(): Promise<void>;
}

export interface TelemetryOptions {
  /** The variables to read (default `process.env`). */
  env?: NodeJS.ProcessEnv;
  /**
   * Where spans go instead of the exporter the OTEL_* variables choose (tests pass an in-memory
   * exporter's processor). Giving processors turns tracing on unless OTEL_SDK_DISABLED=true.
   */
  spanProcessors?: SpanProcessor[];
}

const DISABLED: Telemetry = { enabled: false, shutdown: async () => undefined };

let running: Telemetry | null = null;

const isTrue = (value: string | undefined): boolean => value?.trim().toLowerCase() === 'true';

/**
 * Whether the standard variables ask for traces: OTEL_SDK_DISABLED is not true, and an exporter is
 * named (OTEL_TRACES_EXPORTER other than `none`) or an OTLP endpoint is set.
 */
export function tracingRequested(env: NodeJS.ProcessEnv = process.env): boolean {
  if (isTrue(env.OTEL_SDK_DISABLED)) return false;
  const exporters = (env.OTEL_TRACES_EXPORTER ?? '')
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
  if (exporters.length > 0) return !exporters.every((name) => name === 'none');
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
}

/** True once this process records spans; code on the hot path checks it before doing any tracing work. */
export function tracingEnabled(): boolean {
  return running !== null;
}

/**
 * Starts tracing for `service` when the OTEL_* variables ask for it (OTLP over HTTP by default,
 * http/protobuf; OTEL_EXPORTER_OTLP_PROTOCOL=http/json also works), else does nothing and loads
 * nothing. Call it first in a process, before the modules it instruments (pg) are imported: the
 * entry points import the rest of the service dynamically after it. Only traces are exported:
 * metrics are Prometheus' (prom-client) and logs are JSON lines on stdout.
 */
export async function initTelemetry(service: string, options: TelemetryOptions = {}): Promise<Telemetry> {
  if (running) return running;
  const env = options.env ?? process.env;
  if (isTrue(env.OTEL_SDK_DISABLED)) return DISABLED;
  if (!options.spanProcessors && !tracingRequested(env)) return DISABLED;

  const [{ startNodeSdk }, { PgInstrumentation }] = await Promise.all([
    import('@opentelemetry/sdk-node'),
    import('@opentelemetry/instrumentation-pg'),
  ]);
  // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win over the name the service gives itself.
  const named = Boolean(env.OTEL_SERVICE_NAME) || /(^|,)\s*service\.name=/.test(env.OTEL_RESOURCE_ATTRIBUTES ?? '');
  const sdk = startNodeSdk({
    ...(named ? {} : { resourceAttributes: { 'service.name': service, 'service.namespace': 'model-router' } }),
    ...(options.spanProcessors ? { spanProcessors: options.spanProcessors } : {}),
    metricReaders: [],
    logRecordProcessors: [],
    instrumentations: [
      // Only queries inside a traced operation (a request, a job): timers' queries would be noise.
      // Parameter values are never recorded: they may hold user ids.
      new PgInstrumentation({ requireParentSpan: true, enhancedDatabaseReporting: false }),
    ],
  });
  const telemetry: Telemetry = {
    enabled: true,
    async shutdown() {
      if (running === telemetry) running = null;
      await sdk.shutdown();
    },
  };
  running = telemetry;
  return telemetry;
}
