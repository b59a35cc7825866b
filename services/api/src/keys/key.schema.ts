import { z } from 'zod';

/** A key id as the API makes them: `key_` and 20 base62 characters. */
export const keyIdSchema = z.string().regex(/^key_[A-Za-z0-9]{16,64}$/, 'a key id looks like "key_" followed by letters and digits');

const ids = (what: string) =>
  z
    .array(z.string().min(1).max(256).regex(/^[^\u0000]*$/, 'must not contain NUL characters'))
    .max(1000)
    .refine((list) => new Set(list).size === list.length, `${what} must be distinct`);

/** A per-minute limit: a positive whole number, or null for none. */
const perMinute = z.number().int('must be a whole number').positive('must be greater than 0').max(1_000_000_000).nullable();

/** Free-form labels of the key (team, owner, cost centre): a JSON object of at most 8 KB. */
const metadata = z
  .record(z.string().max(200), z.unknown())
  .refine((value) => JSON.stringify(value).length <= 8192, 'must be at most 8 KB as JSON');

/** An instant in the future, in ISO 8601 with an offset ("2027-01-01T00:00:00Z"). */
const expiresAt = (now: () => number) =>
  z.iso
    .datetime({ offset: true, message: 'must be an ISO 8601 date-time with an offset, e.g. "2027-01-01T00:00:00Z"' })
    .refine((value) => Date.parse(value) > now(), 'must be in the future')
    .transform((value) => new Date(value).toISOString())
    .nullable();

const fields = (now: () => number) => ({
  name: z.string().trim().min(1).max(200),
  enabled: z.boolean(),
  expires_at: expiresAt(now),
  allowed_models: ids('allowed_models'),
  allowed_providers: ids('allowed_providers'),
  rpm: perMinute,
  tpm: perMinute,
  metadata,
});

/** POST /api/v1/keys: a name, everything else optional (unknown fields are refused). */
export const createKeySchema = (now: () => number) => {
  const f = fields(now);
  return z.strictObject({
    name: f.name,
    enabled: f.enabled.default(true),
    expires_at: f.expires_at.default(null),
    allowed_models: f.allowed_models.default([]),
    allowed_providers: f.allowed_providers.default([]),
    rpm: f.rpm.default(null),
    tpm: f.tpm.default(null),
    metadata: f.metadata.default({}),
  });
};

/** PATCH /api/v1/keys/:id: any writable field; at least one. */
export const patchKeySchema = (now: () => number) =>
  z
    .strictObject(fields(now))
    .partial()
    .refine((body) => Object.keys(body).length > 0, 'name at least one field to change');

/** POST /api/v1/keys/:id/rotate: how long the old secret keeps working (default: auth.key_rotation_grace). */
export const rotateKeySchema = z.strictObject({
  grace_period_seconds: z.number().int('must be a whole number').min(0).max(30 * 86_400, 'must be at most 30 days').optional(),
});
