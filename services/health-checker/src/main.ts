/** The health checker process: config, clients and the ops server from the service frame. */
import { initTelemetry } from '@model-router/telemetry';

// Tracing first: what it instruments (pg) must be imported after it, hence the dynamic imports.
const telemetry = await initTelemetry('health-checker');
const { runServiceMain } = await import('@model-router/service-runtime');
const { setupHealthChecker } = await import('./health-checker.js');

await runServiceMain('health-checker', (config) => config.workers.health_checker.ops_port, (ctx) => setupHealthChecker(ctx), telemetry);
