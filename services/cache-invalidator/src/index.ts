import type { Config } from '@model-router/config';
import type { Logger } from '@model-router/logger';
import { type RunningService, startService } from '@model-router/service-runtime';
import { setupCacheInvalidator } from './invalidator.js';

export { setupCacheInvalidator } from './invalidator.js';

/** Starts the cache invalidator in this process (tests); `main.ts` is the deployable entry point. */
export function startCacheInvalidator(config: Config, options: { logger?: Logger; opsPort?: number } = {}): Promise<RunningService> {
  return startService({
    name: 'cache-invalidator',
    config,
    ...(options.logger ? { logger: options.logger } : {}),
    opsPort: options.opsPort ?? 0,
    setup: setupCacheInvalidator,
  });
}
