import type { NextFunction, Request, RequestHandler, Response } from 'express';

/**
 * Middleware run as one layer: each handler's `next()` calls the following handler directly, and
 * `next(error)` (or a rejected promise, as Express 5 handles one) goes to Express's own `next`, so
 * the route's error handlers see it as before. For the hot routes: Express walks a route's layers
 * with a closure, a method check and a try/catch per layer, measurable per request at the gateway's
 * rate; here it walks one. `next('route')` and `next('router')` are passed on to Express.
 */
export function chain(...handlers: RequestHandler[]): RequestHandler {
  if (handlers.length === 1) return handlers[0]!;
  return (req: Request, res: Response, done: NextFunction) => {
    let index = 0;
    const fail = (error: unknown): void => done(error ?? new Error('a rejected promise without a reason'));
    const next = (error?: unknown): void => {
      if (error !== undefined && error !== null) {
        done(error);
        return;
      }
      const handler = handlers[index++];
      if (handler === undefined) {
        done();
        return;
      }
      let result: unknown;
      try {
        result = handler(req, res, next as NextFunction);
      } catch (thrown) {
        done(thrown);
        return;
      }
      if (result !== null && typeof result === 'object' && typeof (result as Promise<unknown>).then === 'function') {
        (result as Promise<unknown>).then(undefined, fail);
      }
    };
    next();
  };
}
