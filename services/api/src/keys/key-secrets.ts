import { createHash, randomBytes } from 'node:crypto';
import { KEY_SECRET_BYTES, KEY_SECRET_PREFIX } from '@model-router/domain';

/** A new secret: the recognisable prefix and 32 random bytes in base64url (shown to the admin once). */
export function newKeySecret(): string {
  return `${KEY_SECRET_PREFIX}${randomBytes(KEY_SECRET_BYTES).toString('base64url')}`;
}

/** The stored form of a secret, and what a presented key is looked up by. */
export function secretDigest(secret: string): Buffer {
  return createHash('sha256').update(secret).digest();
}

const BASE62 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** A new key id: `key_` and 20 base62 characters (119 random bits; not a secret). */
export function newKeyId(): string {
  const bytes = randomBytes(20);
  let id = 'key_';
  // 256 is not a multiple of 62; the slight bias of `% 62` does not matter for an identifier.
  for (const byte of bytes) id += BASE62[byte % 62];
  return id;
}
