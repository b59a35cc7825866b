import type { Config } from '@model-router/config';
import type { CircuitStore } from '@model-router/health';
import type { Logger } from '@model-router/logger';
import { type RunningService, startService } from '@model-router/service-runtime';
import { type HealthCheckerOptions, setupHealthChecker } from './health-checker.js';

export { type HealthCheckerOptions, PROBE_SCHEDULER_ID, setupHealthChecker, type StartedHealthChecker } from './health-checker.js';
export { probeModel, probeUrl, type ProbeResult } from './probe.js';

export interface RunningHealthChecker extends RunningService {
  /** The checker's own store (tests read circuits through it). */
  store: CircuitStore;
}

export interface StartHealthCheckerOptions extends HealthCheckerOptions {
  logger?: Logger;
  /** Port of the ops server; default `workers.health_checker.ops_port` (tests pass 0). */
  opsPort?: number;
}

/** Starts the health checker in this process (the service's main, and tests). */
export async function startHealthChecker(config: Config, options: StartHealthCheckerOptions = {}): Promise<RunningHealthChecker> {
  const { logger, opsPort, ...checker } = options;
  let store: CircuitStore | null = null;
  const service = await startService({
    name: 'health-checker',
    config,
    ...(logger ? { logger } : {}),
    opsPort: opsPort ?? config.workers.health_checker.ops_port,
    async setup(ctx) {
      const started = await setupHealthChecker(ctx, checker);
      store = started.store;
      return started;
    },
  });
  return { ...service, store: store! };
}
