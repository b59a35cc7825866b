import { initTelemetry } from '@model-router/telemetry';

// Tracing first: what it instruments (pg) must be imported after it, hence the dynamic imports.
const telemetry = await initTelemetry('cache-invalidator');
const { runServiceMain } = await import('@model-router/service-runtime');
const { setupCacheInvalidator } = await import('./invalidator.js');

await runServiceMain('cache-invalidator', (config) => config.workers.cache_invalidator.ops_port, setupCacheInvalidator, telemetry);
