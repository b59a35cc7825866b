import { initTelemetry } from '@model-router/telemetry';

// Tracing first: what it instruments (pg) must be imported after it, hence the dynamic imports.
const telemetry = await initTelemetry('metric-aggregator');
const { runServiceMain } = await import('@model-router/service-runtime');
const { SERVICE_NAME, setupMetricAggregator } = await import('./index.js');

await runServiceMain(SERVICE_NAME, (config) => config.workers.metric_aggregator.ops_port, setupMetricAggregator, telemetry);
