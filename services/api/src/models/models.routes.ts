import { DuplicateEntityError, ModelRepository, type StoredModel } from '@model-router/database';
import { type EndpointPolicy, type Model, UNKNOWN_RUNTIME } from '@model-router/domain';
import type { CircuitStore } from '@model-router/health';
import { ApiError, parseInput as parse } from '@model-router/http';
import express, { type RequestHandler, type Router } from 'express';
import type { ConfigChanges } from '../events/config-changes.js';
import type { SnapshotStore } from '../state/snapshot-store.js';
import { modelIdSchema, modelSchemas } from './model.schema.js';

export interface ModelRoutesDeps {
  models: ModelRepository;
  snapshots: SnapshotStore;
  changes: ConfigChanges;
  circuits: CircuitStore;
  requireAdmin: RequestHandler;
  requireReader: RequestHandler;
  /** Which endpoints a model may have (security.allow_private_endpoints). */
  endpointPolicy: EndpointPolicy;
}

function pathId(raw: string | string[] | undefined): string {
  return parse(modelIdSchema, raw, 'model id');
}

const notFound = (id: string) => new ApiError('MODEL_NOT_FOUND', `model "${id}" does not exist`);

export function modelRoutes(deps: ModelRoutesDeps): Router {
  const router = express.Router();
  const { changes } = deps;
  const schemas = modelSchemas(deps.endpointPolicy);

  /** A stored model plus its live state (health, circuit, observed stats) from the snapshot. */
  const present = (model: StoredModel) => {
    const runtime = deps.snapshots.current.runtime.get(model.id) ?? UNKNOWN_RUNTIME;
    return { ...model, health: runtime.health, circuit: runtime.circuit, stats: runtime.stats };
  };

  router.get('/models', deps.requireReader, async (req, res) => {
    const provider = typeof req.query.provider === 'string' ? req.query.provider : undefined;
    const models = (await deps.models.list()).filter((m) => provider === undefined || m.provider === provider);
    res.json({ models: models.map(present) });
  });

  router.get('/models/:id', deps.requireReader, async (req, res) => {
    const id = pathId(req.params.id);
    const model = await deps.models.get(id);
    if (!model) throw notFound(id);
    res.json(present(model));
  });

  /** The model's circuit and health as every replica shares them (read from Redis, not the snapshot). */
  router.get('/models/:id/health', deps.requireReader, async (req, res) => {
    const id = pathId(req.params.id);
    const model = await deps.models.get(id);
    if (!model) throw notFound(id);
    const live = (await deps.circuits.getRuntime([id])).get(id);
    const runtime = deps.snapshots.current.runtime.get(id) ?? UNKNOWN_RUNTIME;
    res.json({
      model_id: id,
      enabled: model.enabled,
      endpoint: model.endpoint,
      health: live?.health ?? 'unknown',
      circuit: live?.circuit ?? 'closed',
      opened_at: live?.opened_at ?? null,
      retry_at: live?.retry_at ?? null,
      consecutive_failures: live?.consecutive_failures ?? 0,
      window: live?.window ?? null,
      observed: runtime.stats,
    });
  });

  router.post('/models', deps.requireAdmin, async (req, res) => {
    const body = parse(schemas.create, req.body);
    const stored = await changes.commit({ entity: 'model', entity_id: body.id, action: 'created' }, async (client) => {
      try {
        return await new ModelRepository(client).insert(body);
      } catch (error) {
        if (error instanceof DuplicateEntityError) throw new ApiError('CONFLICT', error.message);
        throw error;
      }
    });
    res.status(201).location(`/api/v1/models/${encodeURIComponent(stored.id)}`).json(present(stored));
  });

  router.put('/models/:id', deps.requireAdmin, async (req, res) => {
    const id = pathId(req.params.id);
    const body = parse(schemas.replace, req.body);
    if (body.id !== undefined && body.id !== id) {
      throw new ApiError('VALIDATION_ERROR', `body id "${body.id}" does not match the path id "${id}"`);
    }
    const stored = await changes.commit({ entity: 'model', entity_id: id, action: 'updated' }, async (client) => {
      const replaced = await new ModelRepository(client).replace({ ...body, id });
      if (!replaced) throw notFound(id);
      return replaced;
    });
    res.json(present(stored));
  });

  router.patch('/models/:id', deps.requireAdmin, async (req, res) => {
    const id = pathId(req.params.id);
    const patch = parse(schemas.patch, req.body);
    const stored = await changes.commit({ entity: 'model', entity_id: id, action: 'updated' }, async (client) => {
      const repo = new ModelRepository(client);
      // Locked read-modify-write: two concurrent patches never lose each other's fields.
      const existing = await repo.get(id, { forUpdate: true });
      if (!existing) throw notFound(id);
      const { created_at: _c, updated_at: _u, ...current } = existing;
      const next: Model = { ...current, ...patch };
      if (next.max_output_tokens > next.context_window) {
        throw new ApiError('VALIDATION_ERROR', 'max_output_tokens must not exceed context_window', [
          { path: 'max_output_tokens', message: 'must not exceed context_window' },
        ]);
      }
      return (await repo.replace(next))!;
    });
    res.json(present(stored));
  });

  router.delete('/models/:id', deps.requireAdmin, async (req, res) => {
    const id = pathId(req.params.id);
    await changes.commit({ entity: 'model', entity_id: id, action: 'deleted' }, async (client) => {
      if (!(await new ModelRepository(client).delete(id))) throw notFound(id);
    });
    res.status(204).end();
  });

  return router;
}
