export { type Config, type ConfigInput, configSchema } from './schema.js';
export { ConfigError, DEFAULT_CONFIG_PATH, ENV_OVERRIDES, type LoadOptions, loadConfig, parseConfig } from './load.js';
export { SERVICE_NAMES, SERVICE_PORT_VARIABLES, type ServiceName, servicePort } from './service-ports.js';
export {
  allowPrivateEndpoints,
  assertStartableConfig,
  DEVELOPMENT_ADMIN_API_KEY,
  isProductionMode,
  loadStartableConfigOrExit,
  mockProviderControlKey,
  productionProblems,
  workerOpsHost,
} from './mode.js';
