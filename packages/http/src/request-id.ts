import type { Request, RequestHandler } from 'express';
import { randomUuid } from './random-id.js';

const SAFE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The caller's X-Request-Id when it is a safe token, else a new one. */
function requestIdOf(req: Request): string {
  const incoming = req.headers['x-request-id'];
  return typeof incoming === 'string' && SAFE_ID.test(incoming) ? incoming : randomUuid();
}

/** Takes the caller's X-Request-Id when it is a safe token, else makes one; echoes it back. */
export const requestId: RequestHandler = (req, res, next) => {
  const id = requestIdOf(req);
  res.locals.requestId = id;
  res.setHeader('x-request-id', id);
  next();
};

/**
 * `requestId` without the header: for a route that writes every header of its answers itself, in
 * one writeHead (Node's fast path, which a single earlier setHeader turns into a setHeader per
 * header). Such a route must send `x-request-id: res.locals.requestId` with each answer.
 */
export const requestIdWrittenByRoute: RequestHandler = (req, res, next) => {
  res.locals.requestId = requestIdOf(req);
  next();
};
