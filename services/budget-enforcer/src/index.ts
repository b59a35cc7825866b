import type { Config } from '@model-router/config';
import type { Logger } from '@model-router/logger';
import { type RunningService, startService } from '@model-router/service-runtime';
import { type BudgetEnforcerOptions, SERVICE_NAME, setupBudgetEnforcer } from './budget-enforcer.js';
import type { SpendRecorder } from './spend-recorder.js';

export { type BudgetEnforcerOptions, SERVICE_NAME, setupBudgetEnforcer } from './budget-enforcer.js';
export { type RecordResult, SpendRecorder } from './spend-recorder.js';
export { type ThresholdCrossedAlert } from './threshold-alerts.js';

export interface RunningBudgetEnforcer extends RunningService {
  /** The enforcer's recorder (tests reconcile through it). */
  recorder: SpendRecorder;
}

export interface StartBudgetEnforcerOptions extends BudgetEnforcerOptions {
  logger?: Logger;
  /** Port of the ops server (/healthz, /readyz, /metrics); default `workers.budget_enforcer.ops_port`. */
  opsPort?: number;
}

/** Starts the budget enforcer in this process (tests); `main.ts` is the deployable entry point. */
export async function startBudgetEnforcer(config: Config, options: StartBudgetEnforcerOptions = {}): Promise<RunningBudgetEnforcer> {
  const { logger, opsPort, ...enforcer } = options;
  let recorder: SpendRecorder | null = null;
  const service = await startService({
    name: SERVICE_NAME,
    config,
    ...(logger ? { logger } : {}),
    opsPort: opsPort ?? config.workers.budget_enforcer.ops_port,
    async setup(ctx) {
      const started = await setupBudgetEnforcer(ctx, enforcer);
      recorder = started.recorder;
      return started;
    },
  });
  return { ...service, recorder: recorder! };
}
