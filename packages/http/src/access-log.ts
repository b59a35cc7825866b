import type { Logger } from '@model-router/logger';
import type { RequestHandler } from 'express';
import { routeLabel } from './http-metrics.js';

/**
 * One debug line per answered request: request id, method, route pattern, path, status and
 * duration, plus the trace and span ids when the request is traced. Never headers, query strings or
 * bodies (they carry keys and prompts). Mounted only when the logger's level is debug, so at info
 * the hot path does not even pay for the listener.
 */
export function accessLog(logger: Logger): RequestHandler | null {
  if (!logger.isDebugEnabled()) return null;
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    res.once('finish', () => {
      logger.debug('request', {
        request_id: res.locals.requestId as string | undefined,
        method: req.method,
        route: routeLabel(req),
        path: req.path,
        status: res.statusCode,
        duration_ms: Number(process.hrtime.bigint() - started) / 1e6,
      });
    });
    next();
  };
}
