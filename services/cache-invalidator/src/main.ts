import { runServiceMain } from '@model-router/service-runtime';
import { setupCacheInvalidator } from './invalidator.js';

await runServiceMain('cache-invalidator', (config) => config.workers.cache_invalidator.ops_port, setupCacheInvalidator);
