import { initTelemetry } from '@model-router/telemetry';

// Tracing first: what it instruments (pg) must be imported after it, hence the dynamic imports.
const telemetry = await initTelemetry('budget-enforcer');
const { runServiceMain } = await import('@model-router/service-runtime');
const { SERVICE_NAME, setupBudgetEnforcer } = await import('./budget-enforcer.js');

await runServiceMain(SERVICE_NAME, (config) => config.workers.budget_enforcer.ops_port, (ctx) => setupBudgetEnforcer(ctx), telemetry);
