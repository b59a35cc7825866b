import type { KeyGrant } from '@model-router/domain';
import type { Queryable } from './model.repository.js';

/**
 * Storage of API keys (migrations/1764500000000_api-keys.sql). Secrets never pass through here:
 * only their SHA-256 digests, which no method returns except `listForAuth` (the API's snapshot).
 */

/** A key as the admin API shows it: everything but the secret's digests. */
export interface StoredKey {
  id: string;
  name: string;
  enabled: boolean;
  expires_at: string | null;
  allowed_models: string[];
  allowed_providers: string[];
  rpm: number | null;
  tpm: number | null;
  metadata: Record<string, unknown>;
  created_at: string;
  updated_at: string;
  last_used_at: string | null;
  /** Until when the secret replaced by the last rotation still works; null: it no longer does. */
  previous_secret_expires_at: string | null;
}

/** The writable fields of a key. */
export type KeyFields = Pick<StoredKey, 'name' | 'enabled' | 'expires_at' | 'allowed_models' | 'allowed_providers' | 'rpm' | 'tpm' | 'metadata'>;

/** A secret digest that opens a key, as the API's snapshot holds it. */
export interface KeyCredential {
  sha256: Buffer;
  grant: KeyGrant;
  /** Epoch ms after which this digest no longer opens the key (a rotated-out secret); null: no end. */
  valid_until: number | null;
}

const COLUMNS = `id, name, enabled, expires_at, allowed_models, allowed_providers, rpm, tpm, metadata,
  created_at, updated_at, last_used_at, previous_secret_expires_at`;

const iso = (value: unknown): string | null => (value instanceof Date ? value.toISOString() : null);

function toKey(row: Record<string, unknown>): StoredKey {
  return {
    id: row.id as string,
    name: row.name as string,
    enabled: row.enabled as boolean,
    expires_at: iso(row.expires_at),
    allowed_models: row.allowed_models as string[],
    allowed_providers: row.allowed_providers as string[],
    rpm: (row.rpm as number | null) ?? null,
    tpm: (row.tpm as number | null) ?? null,
    metadata: row.metadata as Record<string, unknown>,
    created_at: iso(row.created_at)!,
    updated_at: iso(row.updated_at)!,
    last_used_at: iso(row.last_used_at),
    previous_secret_expires_at: iso(row.previous_secret_expires_at),
  };
}

function toGrant(key: StoredKey): KeyGrant {
  return {
    id: key.id,
    name: key.name,
    enabled: key.enabled,
    expires_at: key.expires_at === null ? null : Date.parse(key.expires_at),
    allowed_models: key.allowed_models,
    allowed_providers: key.allowed_providers,
    rpm: key.rpm,
    tpm: key.tpm,
  };
}

/** The field values in the order of INSERT and UPDATE below ($2 … $9). */
const fieldValues = (f: KeyFields): unknown[] => [
  f.name,
  f.enabled,
  f.expires_at,
  f.allowed_models,
  f.allowed_providers,
  f.rpm,
  f.tpm,
  JSON.stringify(f.metadata),
];

export class KeyRepository {
  constructor(private readonly db: Queryable) {}

  async insert(id: string, fields: KeyFields, secretSha256: Buffer): Promise<StoredKey> {
    const { rows } = await this.db.query(
      `INSERT INTO model_router.api_keys (id, name, enabled, expires_at, allowed_models, allowed_providers, rpm, tpm, metadata, secret_sha256)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING ${COLUMNS}`,
      [id, ...fieldValues(fields), secretSha256],
    );
    return toKey(rows[0]);
  }

  async list(): Promise<StoredKey[]> {
    const { rows } = await this.db.query(`SELECT ${COLUMNS} FROM model_router.api_keys ORDER BY created_at, id`);
    return rows.map(toKey);
  }

  /** `forUpdate`: lock the row for the rest of the transaction (read-modify-write of PATCH). */
  async get(id: string, { forUpdate = false } = {}): Promise<StoredKey | null> {
    const { rows } = await this.db.query(`SELECT ${COLUMNS} FROM model_router.api_keys WHERE id = $1${forUpdate ? ' FOR UPDATE' : ''}`, [id]);
    return rows[0] ? toKey(rows[0]) : null;
  }

  async update(id: string, fields: KeyFields): Promise<StoredKey | null> {
    const { rows } = await this.db.query(
      `UPDATE model_router.api_keys SET name = $2, enabled = $3, expires_at = $4, allowed_models = $5,
         allowed_providers = $6, rpm = $7, tpm = $8, metadata = $9, updated_at = now()
       WHERE id = $1 RETURNING ${COLUMNS}`,
      [id, ...fieldValues(fields)],
    );
    return rows[0] ? toKey(rows[0]) : null;
  }

  /**
   * Gives the key a new secret; the current one keeps working for `graceMs` (0: stops at once).
   * A secret still in an earlier grace period stops now: at most two secrets open a key.
   */
  async rotate(id: string, secretSha256: Buffer, graceMs: number): Promise<StoredKey | null> {
    const { rows } = await this.db.query(
      `UPDATE model_router.api_keys SET
         previous_secret_sha256 = CASE WHEN $3::bigint > 0 THEN secret_sha256 END,
         previous_secret_expires_at = CASE WHEN $3::bigint > 0 THEN now() + $3::bigint * interval '1 millisecond' END,
         secret_sha256 = $2, updated_at = now()
       WHERE id = $1 RETURNING ${COLUMNS}`,
      [id, secretSha256, graceMs],
    );
    return rows[0] ? toKey(rows[0]) : null;
  }

  async delete(id: string): Promise<boolean> {
    const { rowCount } = await this.db.query(`DELETE FROM model_router.api_keys WHERE id = $1`, [id]);
    return (rowCount ?? 0) > 0;
  }

  /** Every digest that opens a key now: each key's secret and a rotated-out one still in its grace. */
  async listForAuth(): Promise<KeyCredential[]> {
    const { rows } = await this.db.query(
      `SELECT ${COLUMNS}, secret_sha256, previous_secret_sha256 FROM model_router.api_keys
       ORDER BY id`,
    );
    const credentials: KeyCredential[] = [];
    for (const row of rows) {
      const grant = toGrant(toKey(row));
      credentials.push({ sha256: row.secret_sha256 as Buffer, grant, valid_until: null });
      const previous = row.previous_secret_sha256 as Buffer | null;
      if (previous) credentials.push({ sha256: previous, grant, valid_until: (row.previous_secret_expires_at as Date).getTime() });
    }
    return credentials;
  }

  /** Records that the keys were used (batched by the API; never moves last_used_at back). */
  async touch(ids: readonly string[], at: Date): Promise<void> {
    if (ids.length === 0) return;
    await this.db.query(
      `UPDATE model_router.api_keys SET last_used_at = $2
       WHERE id = ANY($1::text[]) AND (last_used_at IS NULL OR last_used_at < $2)`,
      [ids, at],
    );
  }
}
