import { z } from 'zod';

/**
 * The ids of the product, one definition each: ids clients and the catalog give (stored in
 * Postgres, carried by events), name-like ids of entities an operator creates, and client-key ids.
 */

/** Longest id in UTF-16 code units (what a client counts as characters). */
export const MAX_ID_LENGTH = 256;
/**
 * Longest id in UTF-8 bytes. Three ids share one index key (A/B test, variant, user); Postgres
 * cannot index a key above ~2.7 kB (a third of a page), which 3 × 256 four-byte characters pass.
 */
export const MAX_ID_BYTES = 512;

/** Why `text` cannot be stored as Postgres text (or jsonb), or null when it can. */
export function unstorableTextReason(text: string): string | null {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    // NUL: Postgres text and jsonb refuse it.
    if (c === 0) return 'must not contain NUL characters';
    // A lone UTF-16 surrogate has no UTF-8 form: it would be stored as U+FFFD, a different id.
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        i++;
        continue;
      }
      return 'must not contain unpaired UTF-16 surrogates';
    }
    if (c >= 0xdc00 && c <= 0xdfff) return 'must not contain unpaired UTF-16 surrogates';
  }
  return null;
}

// Plain ASCII without NUL: the common id, storable and at most one byte per character.
const PLAIN_ASCII = /^[\u0001-\u007f]*$/;

/** Why an id (already 1–256 characters) cannot be stored, or null when it can. */
export function unstorableIdReason(id: string): string | null {
  if (PLAIN_ASCII.test(id)) return null;
  const reason = unstorableTextReason(id);
  if (reason) return reason;
  return id.length * 3 <= MAX_ID_BYTES || Buffer.byteLength(id, 'utf8') <= MAX_ID_BYTES ? null : `must be at most ${MAX_ID_BYTES} bytes in UTF-8`;
}

/**
 * A client- or catalog-given id: 1–256 characters, at most 512 bytes in UTF-8, storable. One
 * refinement with an ASCII fast path: ids are checked on every event at both ends of the queue.
 */
export const storableId = z
  .string()
  .min(1)
  .max(MAX_ID_LENGTH)
  .superRefine((value, ctx) => {
    const reason = unstorableIdReason(value);
    if (reason) ctx.addIssue({ code: 'custom', message: reason });
  });

/**
 * A name-like id of at most `maxLength` characters: a letter or digit, then letters, digits, ".",
 * "_", ":" or "-".
 */
export function slugIdSchema(maxLength: number) {
  return z
    .string()
    .regex(new RegExp(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,${maxLength - 1}}$`), `letters, digits, ".", "_", ":" or "-", at most ${maxLength} characters`);
}

/** The id of an A/B test, one of its variants, or a budget. */
export const entityIdSchema = slugIdSchema(128);

/**
 * The client namespace of the event's client-chosen ids (event_id, a route's X-Request-Id): the id
 * of the client key that sent it, or "default" when the API has no client keys. Ids deduplicate
 * only within one namespace. Events of producers older than it are in "default".
 */
export const DEFAULT_KEY_ID = 'default';
export const keyIdSchema = slugIdSchema(64);
