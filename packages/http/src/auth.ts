import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { ApiError } from './errors.js';

const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

function bearer(header: string | undefined): string | null {
  if (!header) return null;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match ? match[1]! : null;
}

/**
 * Accepts a request whose `Authorization: Bearer <key>` equals one of `keys` (compared in constant
 * time over SHA-256 digests, so neither content nor length leaks). No key → 401; a wrong key → 403.
 */
export function requireApiKey(keys: readonly string[], realm: string): RequestHandler {
  const expected = keys.map(digest);
  return (req, _res, next) => {
    const token = bearer(req.headers.authorization);
    if (token === null) {
      next(new ApiError('UNAUTHORIZED', `${realm} API key required: send "Authorization: Bearer <key>"`));
      return;
    }
    const given = digest(token);
    if (!expected.some((key) => timingSafeEqual(key, given))) {
      next(new ApiError('FORBIDDEN', `the API key is not valid for ${realm} endpoints`));
      return;
    }
    next();
  };
}
