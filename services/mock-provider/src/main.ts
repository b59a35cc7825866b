/**
 * The mock provider process: host and port from the shared config (mock_provider.*, env
 * MOCK_PROVIDER_PORT), start-up model settings from MOCK_PROVIDER_MODELS, clean shutdown on SIGTERM.
 */
import { type Config, ConfigError, DEVELOPMENT_ADMIN_API_KEY, isProductionMode, loadConfig, mockProviderControlKey } from '@model-router/config';
import { onShutdownSignal } from '@model-router/http';
import { createLogger } from '@model-router/logger';
import { startMockProvider } from './server.js';
import { type InitialSettings, parseInitialSettings, SettingsError } from './settings.js';

// Both are checked before either is reported, so one start names every problem.
const problems: string[] = [];
let config: Config | undefined;
let initial: InitialSettings = {};
try {
  config = loadConfig();
  // Its control API can take every model down: production mode wants a key of its own.
  if (isProductionMode(config) && mockProviderControlKey(config) === DEVELOPMENT_ADMIN_API_KEY) {
    problems.push(
      'refused in production mode:\n  - mock_provider.control_api_key: the control API would take the shipped development key; set MOCK_PROVIDER_CONTROL_KEY (or ADMIN_API_KEY)',
    );
  }
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  problems.push(error.message);
}
try {
  initial = parseInitialSettings(process.env.MOCK_PROVIDER_MODELS);
} catch (error) {
  if (!(error instanceof SettingsError)) throw error;
  problems.push(error.message);
}
if (!config || problems.length) {
  console.error(problems.join('\n'));
  process.exit(78); // EX_CONFIG
}
const logger = createLogger('mock-provider', config.log.level);
try {
  const mock = await startMockProvider({
    host: config.mock_provider.host,
    port: config.mock_provider.port,
    logger,
    initial,
    shutdownTimeoutMs: config.server.shutdown_timeout,
    controlApiKey: mockProviderControlKey(config),
  });
  logger.info('mock provider listening', { url: mock.url, openai_base_url: `${mock.url}/v1`, configured_models: mock.settings.list().length });
  onShutdownSignal(logger, mock.stop);
} catch (error) {
  logger.error('mock provider failed to start', { err: error });
  process.exit(1);
}
