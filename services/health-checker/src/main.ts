/** The health checker process: config, clients and the ops server from the service frame. */
import { runServiceMain } from '@model-router/service-runtime';
import { setupHealthChecker } from './health-checker.js';

await runServiceMain('health-checker', (config) => config.workers.health_checker.ops_port, (ctx) => setupHealthChecker(ctx));
