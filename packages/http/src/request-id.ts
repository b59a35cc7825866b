import type { RequestHandler } from 'express';
import { randomUuid } from './random-id.js';

const SAFE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Takes the caller's X-Request-Id when it is a safe token, else makes one; echoes it back. */
export const requestId: RequestHandler = (req, res, next) => {
  const incoming = req.headers['x-request-id'];
  const id = typeof incoming === 'string' && SAFE_ID.test(incoming) ? incoming : randomUuid();
  res.locals.requestId = id;
  res.setHeader('x-request-id', id);
  next();
};
