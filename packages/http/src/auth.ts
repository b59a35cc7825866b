import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { ApiError } from './errors.js';

const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

/**
 * The key a request presents: `Authorization: Bearer <key>`, or HTTP Basic with the key as the
 * password (what a browser sends after its login prompt, for the dashboards).
 */
export function presentedKey(header: string | undefined): string | null {
  if (!header) return null;
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (bearer) return bearer[1]!;
  const basic = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (basic) {
    const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return colon >= 0 ? decoded.slice(colon + 1) : null;
  }
  return null;
}

export interface ApiKeyOptions {
  /** Ask browsers for the key with a Basic login prompt (dashboards). */
  browserPrompt?: boolean;
}

/**
 * Accepts a request that presents one of `keys` (compared in constant time over SHA-256 digests,
 * so neither content nor length leaks). No key → 401; a wrong key → 403.
 */
export function requireApiKey(keys: readonly string[], realm: string, options: ApiKeyOptions = {}): RequestHandler {
  const expected = keys.map(digest);
  const challenge = options.browserPrompt ? { 'WWW-Authenticate': `Basic realm="model-router ${realm}", charset="UTF-8"` } : undefined;
  return (req, _res, next) => {
    const key = presentedKey(req.headers.authorization);
    if (key === null) {
      next(new ApiError('UNAUTHORIZED', `${realm} API key required: send "Authorization: Bearer <key>"`, undefined, challenge));
      return;
    }
    const given = digest(key);
    if (!expected.some((candidate) => timingSafeEqual(candidate, given))) {
      next(new ApiError('FORBIDDEN', `the API key is not valid for ${realm} endpoints`));
      return;
    }
    next();
  };
}

/**
 * Like `requireApiKey`, for endpoints several kinds of key may use: accepts a key of any role in
 * `keysByRole` and sets `res.locals.apiKeyRole` to the role whose key was presented (the first
 * role listed wins if two share a key). No key → 401; a key of no role → 403.
 */
export function requireApiKeyOfRole<R extends string>(
  keysByRole: Partial<Record<R, readonly string[]>>,
  realm: string,
  options: ApiKeyOptions = {},
): RequestHandler {
  const expected = (Object.entries(keysByRole) as [R, readonly string[]][]).flatMap(([role, keys]) =>
    keys.map((key) => ({ role, digest: digest(key) })),
  );
  const challenge = options.browserPrompt ? { 'WWW-Authenticate': `Basic realm="model-router ${realm}", charset="UTF-8"` } : undefined;
  return (req, res, next) => {
    const key = presentedKey(req.headers.authorization);
    if (key === null) {
      next(new ApiError('UNAUTHORIZED', `${realm} API key required: send "Authorization: Bearer <key>"`, undefined, challenge));
      return;
    }
    const given = digest(key);
    // Every candidate is compared, so the time taken does not tell which role's key was close.
    let role: R | null = null;
    for (const candidate of expected) {
      if (timingSafeEqual(candidate.digest, given) && role === null) role = candidate.role;
    }
    if (role === null) {
      next(new ApiError('FORBIDDEN', `the API key is not valid for ${realm} endpoints`));
      return;
    }
    res.locals.apiKeyRole = role;
    next();
  };
}

/** A client's key and its id: the namespace of the ids the client chooses (event_id, X-Request-Id). */
export interface ClientKey {
  id: string;
  key: string;
}

/** The client namespace when the API has no client keys (every caller is the same client). */
export const DEFAULT_CLIENT_KEY_ID = 'default';

/** The tenant of a request: the id of the key it presented (set by the API's client auth), or "default". */
export function clientKeyIdOf(locals: Record<string, unknown>): string {
  return typeof locals.clientKeyId === 'string' ? locals.clientKeyId : DEFAULT_CLIENT_KEY_ID;
}
