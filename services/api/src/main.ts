/**
 * The API process: tracing first (what it instruments, pg, must be imported after it, hence the
 * dynamic imports), then config, the server, and a clean shutdown on SIGTERM/SIGINT.
 */
import { initTelemetry } from '@model-router/telemetry';

const telemetry = await initTelemetry('api');
const { loadStartableConfigOrExit } = await import('@model-router/config');
const { onShutdownSignal } = await import('@model-router/http');
const { createLogger } = await import('@model-router/logger');
const { startApi } = await import('./server.js');

const config = loadStartableConfigOrExit();
const logger = createLogger('api', config.log.level);
try {
  const api = await startApi(config, logger);
  logger.info('api listening', { url: api.url, tracing: telemetry.enabled });
  onShutdownSignal(logger, async () => {
    await api.stop();
    await telemetry.shutdown();
  });
} catch (error) {
  logger.error('api failed to start', { err: error });
  process.exit(1);
}
