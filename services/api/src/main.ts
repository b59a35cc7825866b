/** The API process: loads config, starts the server, and shuts down cleanly on SIGTERM/SIGINT. */
import { type Config, ConfigError, loadConfig } from '@model-router/config';
import { onShutdownSignal } from '@model-router/http';
import { createLogger } from '@model-router/logger';
import { startApi } from './server.js';

let config: Config;
try {
  config = loadConfig();
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(error.message);
  process.exit(78); // EX_CONFIG
}
const logger = createLogger('api', config.log.level);
try {
  const api = await startApi(config, logger);
  logger.info('api listening', { url: api.url });
  onShutdownSignal(logger, api.stop);
} catch (error) {
  logger.error('api failed to start', { err: error });
  process.exit(1);
}
