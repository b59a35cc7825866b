import type { Model } from './model.js';

/**
 * API keys as tenants (SPEC "Keys"). A key's secret is `mr-` followed by 32 random bytes in
 * base64url (43 characters); only its SHA-256 is stored. These are the rules the API applies on the
 * hot path from its in-memory snapshot, without I/O.
 */

/** The prefix every key secret starts with, so a leaked secret is recognisable (secret scanners). */
export const KEY_SECRET_PREFIX = 'mr-';
/** Random bytes in a secret: 256 bits, so a plain SHA-256 of it is a safe stored form. */
export const KEY_SECRET_BYTES = 32;
/** A well-formed secret: the prefix and 43 base64url characters (32 bytes, unpadded). */
export const KEY_SECRET_PATTERN = /^mr-[A-Za-z0-9_-]{43}$/;

/** What the hot path needs of a key: who it is, whether it may be used now, and its limits. */
export interface KeyGrant {
  id: string;
  name: string;
  enabled: boolean;
  /** Epoch ms after which the key is refused; null: never. */
  expires_at: number | null;
  /** Model ids the key may use; empty: every model. */
  allowed_models: readonly string[];
  /** Providers the key may use; empty: every provider. */
  allowed_providers: readonly string[];
  /** Requests per minute; null: unlimited. */
  rpm: number | null;
  /** Tokens (prompt + completion) per minute; null: unlimited. */
  tpm: number | null;
}

/** Why a presented key is refused, or null when it may be used at `now`. */
export function keyRefusal(grant: Pick<KeyGrant, 'enabled' | 'expires_at'>, now: number): 'disabled' | 'expired' | null {
  if (!grant.enabled) return 'disabled';
  if (grant.expires_at !== null && now >= grant.expires_at) return 'expired';
  return null;
}

/** Whether `grant` lets its holder use `model` (its allowed models and providers; empty = all). */
export function keyAllowsModel(grant: Pick<KeyGrant, 'allowed_models' | 'allowed_providers'>, model: Pick<Model, 'id' | 'provider'>): boolean {
  if (grant.allowed_models.length > 0 && !grant.allowed_models.includes(model.id)) return false;
  if (grant.allowed_providers.length > 0 && !grant.allowed_providers.includes(model.provider)) return false;
  return true;
}

/** Whether the grant restricts models at all (the routing filter is skipped when it does not). */
export function keyRestrictsModels(grant: Pick<KeyGrant, 'allowed_models' | 'allowed_providers'>): boolean {
  return grant.allowed_models.length > 0 || grant.allowed_providers.length > 0;
}
