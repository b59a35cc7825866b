import { timingSafeEqual } from 'node:crypto';
import { KEY_SECRET_PATTERN, keyRefusal } from '@model-router/domain';
import { ApiError, type ClientKey, presentedKey } from '@model-router/http';
import type { RequestHandler } from 'express';
import type { SnapshotStore } from '../state/snapshot-store.js';
import type { KeyUsageRecorder } from './key-usage.js';
import { secretDigest } from './key-secrets.js';

export interface ClientAuthDeps {
  /** Keys from the configuration (auth.client_api_key(s), and the admin key as "admin"). */
  configured: readonly ClientKey[];
  /** Whether the configuration names client keys (the admin key aside): then a key is always required. */
  configuredClients: boolean;
  /** The snapshot's credentials: the API keys created with POST /api/v1/keys. */
  snapshots: SnapshotStore;
  clock: () => number;
  usage: KeyUsageRecorder;
}

/** How many presented keys' digests are kept: far more than the keys a deployment has. */
const PRESENTED_DIGESTS = 4096;

/** A presented key's SHA-256, and its base64 (the snapshot's credentials are keyed by it). */
interface PresentedDigest {
  digest: Buffer;
  base64: string;
}

/**
 * The digests of the keys presented lately: a client sends the same key with every request, and a
 * SHA-256 plus its base64 per request is measurable on the gateway's hot path. A digest is a pure
 * function of the key, so nothing here goes stale when keys change (the lookup that follows is
 * always against the current snapshot). Bounded: when full it starts over, so keys made up by a
 * caller cannot grow it.
 */
export class PresentedDigests {
  private readonly known = new Map<string, PresentedDigest>();

  constructor(private readonly max: number) {}

  of(key: string): PresentedDigest {
    let entry = this.known.get(key);
    if (entry === undefined) {
      if (this.known.size >= this.max) this.known.clear();
      const digest = secretDigest(key);
      entry = { digest, base64: digest.toString('base64') };
      this.known.set(key, entry);
    }
    return entry;
  }

  get size(): number {
    return this.known.size;
  }
}

/**
 * Who calls the route, metrics and gateway endpoints: a configured client key, the admin key, or
 * an API key from the snapshot (one SHA-256 and one map lookup; no I/O). Sets
 * `res.locals.clientKeyId` (the tenant: events carry it as `key_id`) and, for an API key,
 * `res.locals.keyGrant` (its allowed models and limits).
 *
 * While there is no client key of any kind the endpoints are open, as in the seed's examples; the
 * first key created closes them on every replica with the same change notice that brings the key
 * (and deleting the last one opens them again, but never to a secret of a deleted key).
 * No key → 401; a key that is unknown, disabled, expired or rotated out past its grace → 403.
 * Messages never repeat what was presented.
 */
export function clientAuth(deps: ClientAuthDeps): RequestHandler {
  const configured = deps.configured.map((c) => ({ id: c.id, digest: secretDigest(c.key) }));
  const digests = new PresentedDigests(PRESENTED_DIGESTS);
  return (req, res, next) => {
    const credentials = deps.snapshots.current.credentials;
    const open = !deps.configuredClients && credentials.size === 0;
    const key = presentedKey(req.headers.authorization);
    if (key === null) {
      if (open) next();
      else next(new ApiError('UNAUTHORIZED', 'client API key required: send "Authorization: Bearer <key>"'));
      return;
    }
    if (open) {
      // Open: any header passes (an SDK must send some key), except a secret of ours — a deleted or
      // rotated-out key is refused even after the last key is gone.
      if (KEY_SECRET_PATTERN.test(key)) next(new ApiError('FORBIDDEN', 'the API key is not valid'));
      else next();
      return;
    }
    const presented = digests.of(key);
    const given = presented.digest;
    // Configured keys are compared in constant time, every one of them, so timing tells nothing.
    let id: string | null = null;
    for (const candidate of configured) {
      if (timingSafeEqual(candidate.digest, given) && id === null) id = candidate.id;
    }
    if (id !== null) {
      res.locals.clientKeyId = id;
      next();
      return;
    }
    // API keys are looked up by the digest of a 256-bit secret: no timing leak to guard against.
    const credential = credentials.get(presented.base64);
    if (credential === undefined) {
      next(new ApiError('FORBIDDEN', 'the API key is not valid'));
      return;
    }
    const now = deps.clock();
    if (credential.valid_until !== null && now >= credential.valid_until) {
      next(new ApiError('FORBIDDEN', 'the API key is not valid: this secret was rotated out and its grace period is over'));
      return;
    }
    const refusal = keyRefusal(credential.grant, now);
    if (refusal !== null) {
      next(new ApiError('FORBIDDEN', refusal === 'disabled' ? 'the API key is disabled' : 'the API key has expired'));
      return;
    }
    res.locals.clientKeyId = credential.grant.id;
    res.locals.keyGrant = credential.grant;
    deps.usage.noteUse(credential.grant.id);
    next();
  };
}
