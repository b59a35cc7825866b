import type { Model, ModelApi } from '@model-router/domain';
import type pg from 'pg';
import { DuplicateEntityError, UNIQUE_VIOLATION } from './duplicate-entity.error.js';

export type Queryable = Pick<pg.Pool, 'query'>;

/** A stored model has every gateway field filled in (nulls where the default applies). */
export interface StoredModel extends Model {
  api: ModelApi;
  api_key_env: string | null;
  upstream_model: string | null;
  timeout_ms: number | null;
  created_at: string;
  updated_at: string;
}

const COLUMNS = `id, name, provider, input_price_per_1k, output_price_per_1k, context_window,
  max_output_tokens, capabilities, enabled, latency_ms, endpoint, api, api_key_env, upstream_model,
  timeout_ms, created_at, updated_at`;

const INSERT_MODEL = `INSERT INTO model_router.models (id, name, provider, input_price_per_1k,
  output_price_per_1k, context_window, max_output_tokens, capabilities, enabled, latency_ms, endpoint,
  api, api_key_env, upstream_model, timeout_ms)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`;

/** The writable columns in the order of every INSERT and UPDATE here ($1 … $15). */
function writableValues(model: Model): unknown[] {
  return [
    model.id,
    model.name,
    model.provider,
    model.input_price_per_1k,
    model.output_price_per_1k,
    model.context_window,
    model.max_output_tokens,
    model.capabilities,
    model.enabled,
    model.latency_ms,
    model.endpoint,
    model.api ?? 'openai',
    model.api_key_env ?? null,
    model.upstream_model ?? null,
    model.timeout_ms ?? null,
  ];
}

function toModel(row: Record<string, unknown>): StoredModel {
  return {
    id: row.id as string,
    name: row.name as string,
    provider: row.provider as string,
    input_price_per_1k: Number(row.input_price_per_1k),
    output_price_per_1k: Number(row.output_price_per_1k),
    context_window: row.context_window as number,
    max_output_tokens: row.max_output_tokens as number,
    capabilities: row.capabilities as string[],
    enabled: row.enabled as boolean,
    latency_ms: row.latency_ms as number,
    endpoint: (row.endpoint as string | null) ?? null,
    api: row.api as ModelApi,
    api_key_env: (row.api_key_env as string | null) ?? null,
    upstream_model: (row.upstream_model as string | null) ?? null,
    timeout_ms: (row.timeout_ms as number | null) ?? null,
    created_at: (row.created_at as Date).toISOString(),
    updated_at: (row.updated_at as Date).toISOString(),
  };
}


/** Storage of the model registry. */
export class ModelRepository {
  constructor(private readonly db: Queryable) {}

  async list(): Promise<StoredModel[]> {
    const { rows } = await this.db.query(`SELECT ${COLUMNS} FROM model_router.models ORDER BY provider, id`);
    return rows.map(toModel);
  }

  async get(id: string, options: { forUpdate?: boolean } = {}): Promise<StoredModel | null> {
    const lock = options.forUpdate ? ' FOR UPDATE' : '';
    const { rows } = await this.db.query(`SELECT ${COLUMNS} FROM model_router.models WHERE id = $1${lock}`, [id]);
    return rows[0] ? toModel(rows[0]) : null;
  }

  async insert(model: Model): Promise<StoredModel> {
    try {
      const { rows } = await this.db.query(`${INSERT_MODEL} RETURNING ${COLUMNS}`, writableValues(model));
      return toModel(rows[0]);
    } catch (error) {
      if ((error as { code?: string }).code === UNIQUE_VIOLATION) throw new DuplicateEntityError('model', model.id);
      throw error;
    }
  }

  /** Replaces every writable field of an existing model; null when there is no such model. */
  async replace(model: Model): Promise<StoredModel | null> {
    const { rows } = await this.db.query(
      `UPDATE model_router.models SET name = $2, provider = $3, input_price_per_1k = $4,
         output_price_per_1k = $5, context_window = $6, max_output_tokens = $7, capabilities = $8,
         enabled = $9, latency_ms = $10, endpoint = $11, api = $12, api_key_env = $13,
         upstream_model = $14, timeout_ms = $15, updated_at = now()
       WHERE id = $1
       RETURNING ${COLUMNS}`,
      writableValues(model),
    );
    return rows[0] ? toModel(rows[0]) : null;
  }

  async delete(id: string): Promise<boolean> {
    const { rowCount } = await this.db.query('DELETE FROM model_router.models WHERE id = $1', [id]);
    return (rowCount ?? 0) > 0;
  }

  /**
   * Seeds `catalog` the first time this database starts. Run it inside a transaction: the marker
   * row decides, so concurrent starts seed once and models an operator deleted stay deleted.
   * Returns how many models were inserted (0 when the catalog was seeded before).
   */
  async seedOnce(catalog: readonly Model[]): Promise<number> {
    const marker = await this.db.query(
      `INSERT INTO model_router.deployment_events (name) VALUES ('catalog_seeded')
       ON CONFLICT DO NOTHING RETURNING name`,
    );
    if (marker.rowCount === 0) return 0;
    let inserted = 0;
    for (const model of catalog) {
      const { rowCount } = await this.db.query(`${INSERT_MODEL} ON CONFLICT (id) DO NOTHING`, writableValues(model));
      inserted += rowCount ?? 0;
    }
    return inserted;
  }
}
