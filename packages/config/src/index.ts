export { type Config, type ConfigInput, configSchema } from './schema.js';
export { ConfigError, DEFAULT_CONFIG_PATH, ENV_OVERRIDES, type LoadOptions, loadConfig, parseConfig } from './load.js';
export {
  allowPrivateEndpoints,
  assertStartableConfig,
  DEVELOPMENT_ADMIN_API_KEY,
  isProductionMode,
  mockProviderControlKey,
  productionProblems,
  workerOpsHost,
} from './mode.js';
