import type { Server } from 'node:http';
import type { Logger } from '@model-router/logger';

/**
 * Stops `server` gracefully: no new connections, idle keep-alive sockets closed at once, in-flight
 * requests allowed `timeoutMs` to finish before their sockets are cut.
 */
export function closeServer(server: Server, timeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    // Answers still to come tell keep-alive clients to go away, and a connection whose request
    // finishes is closed within 50 ms instead of idling until the deadline.
    server.prependListener('request', (_req, res) => {
      if (!res.headersSent) res.setHeader('connection', 'close');
    });
    const sweep = setInterval(() => server.closeIdleConnections(), 50);
    const deadline = setTimeout(() => server.closeAllConnections(), timeoutMs);
    deadline.unref();
    server.close(() => {
      clearInterval(sweep);
      clearTimeout(deadline);
      resolve();
    });
    server.closeIdleConnections();
  });
}

/** Exits once the logger has written everything (a log line is not lost to process.exit). */
function exitAfterLogs(logger: Logger, code: number): void {
  const fallback = setTimeout(() => process.exit(code), 1000);
  fallback.unref();
  logger.once('finish', () => process.exit(code));
  logger.end();
}

/**
 * Runs `shutdown` once on SIGTERM or SIGINT, then exits (0 on success, 1 on failure). A process
 * group often gets the same signal twice at once (Ctrl-C reaches every process, and a supervisor
 * forwards it too), so repeats within the first second are ignored; a signal after that means
 * "now" and exits at once.
 */
export function onShutdownSignal(logger: Logger, shutdown: () => Promise<void>): void {
  let stoppingSince = 0;
  const handler = (signal: NodeJS.Signals): void => {
    if (stoppingSince) {
      if (Date.now() - stoppingSince < 1000) return;
      logger.warn('second signal while shutting down: exiting now', { signal });
      exitAfterLogs(logger, 1);
      return;
    }
    stoppingSince = Date.now();
    logger.info('shutting down', { signal });
    shutdown().then(
      () => {
        logger.info('stopped');
        exitAfterLogs(logger, 0);
      },
      (error: unknown) => {
        logger.error('shutdown failed', { err: error });
        exitAfterLogs(logger, 1);
      },
    );
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
}
