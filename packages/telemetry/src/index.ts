export { initTelemetry, type Telemetry, type TelemetryOptions, tracingEnabled, tracingRequested } from './init.js';
export { ATTR } from './attributes.js';
export { traceHttpRequests } from './http-server-spans.js';
