import { type KeyFields, KeyRepository, type StoredKey } from '@model-router/database';
import { ApiError, parseInput as parse } from '@model-router/http';
import express, { type RequestHandler, type Router } from 'express';
import type { ConfigChanges } from '../events/config-changes.js';
import { createKeySchema, keyIdSchema, patchKeySchema, rotateKeySchema } from './key.schema.js';
import { newKeyId, newKeySecret, secretDigest } from './key-secrets.js';

export interface KeyRoutesDeps {
  keys: KeyRepository;
  changes: ConfigChanges;
  clock: () => number;
  /** How long a rotated-out secret keeps working unless the request says otherwise (auth.key_rotation_grace). */
  rotationGraceMs: number;
  requireAdmin: RequestHandler;
}

const pathId = (raw: unknown): string => parse(keyIdSchema, raw, 'key id');
const notFound = (id: string) => new ApiError('NOT_FOUND', `key "${id}" does not exist`);

/** A key as the API shows it: never its secret, nor the secret's digest. */
export function presentKey(key: StoredKey) {
  return {
    id: key.id,
    name: key.name,
    enabled: key.enabled,
    expires_at: key.expires_at,
    allowed_models: key.allowed_models,
    allowed_providers: key.allowed_providers,
    rpm: key.rpm,
    tpm: key.tpm,
    metadata: key.metadata,
    created_at: key.created_at,
    updated_at: key.updated_at,
    last_used_at: key.last_used_at,
    previous_secret_expires_at: key.previous_secret_expires_at,
  };
}

/**
 * /api/v1/keys (admin only): create, list, read, change, delete and rotate API keys. Each write
 * commits with its change notice (the outbox), so every replica's snapshot has it within a second.
 * A secret is in exactly two answers: the create and the rotate that made it.
 */
export function keyRoutes(deps: KeyRoutesDeps): Router {
  const router = express.Router();
  const { changes } = deps;
  const createSchema = createKeySchema(deps.clock);
  const patchSchema = patchKeySchema(deps.clock);

  router.post('/keys', deps.requireAdmin, async (req, res) => {
    const fields: KeyFields = parse(createSchema, req.body);
    const id = newKeyId();
    const secret = newKeySecret();
    const stored = await changes.commit({ entity: 'key', entity_id: id, action: 'created' }, (client) =>
      new KeyRepository(client).insert(id, fields, secretDigest(secret)),
    );
    res.status(201).location(`/api/v1/keys/${stored.id}`).json({ ...presentKey(stored), secret });
  });

  router.get('/keys', deps.requireAdmin, async (_req, res) => {
    res.json({ keys: (await deps.keys.list()).map(presentKey) });
  });

  router.get('/keys/:id', deps.requireAdmin, async (req, res) => {
    const id = pathId(req.params.id);
    const key = await deps.keys.get(id);
    if (!key) throw notFound(id);
    res.json(presentKey(key));
  });

  router.patch('/keys/:id', deps.requireAdmin, async (req, res) => {
    const id = pathId(req.params.id);
    const patch = parse(patchSchema, req.body);
    const stored = await changes.commit({ entity: 'key', entity_id: id, action: 'updated' }, async (client) => {
      const repository = new KeyRepository(client);
      const current = await repository.get(id, { forUpdate: true });
      if (!current) throw notFound(id);
      const fields: KeyFields = {
        name: patch.name ?? current.name,
        enabled: patch.enabled ?? current.enabled,
        expires_at: patch.expires_at !== undefined ? patch.expires_at : current.expires_at,
        allowed_models: patch.allowed_models ?? current.allowed_models,
        allowed_providers: patch.allowed_providers ?? current.allowed_providers,
        rpm: patch.rpm !== undefined ? patch.rpm : current.rpm,
        tpm: patch.tpm !== undefined ? patch.tpm : current.tpm,
        metadata: patch.metadata ?? current.metadata,
      };
      return (await repository.update(id, fields))!;
    });
    res.json(presentKey(stored));
  });

  router.delete('/keys/:id', deps.requireAdmin, async (req, res) => {
    const id = pathId(req.params.id);
    await changes.commit({ entity: 'key', entity_id: id, action: 'deleted' }, async (client) => {
      if (!(await new KeyRepository(client).delete(id))) throw notFound(id);
    });
    res.status(204).end();
  });

  router.post('/keys/:id/rotate', deps.requireAdmin, async (req, res) => {
    const id = pathId(req.params.id);
    const body = parse(rotateKeySchema, req.body ?? {});
    const graceMs = body.grace_period_seconds !== undefined ? body.grace_period_seconds * 1000 : deps.rotationGraceMs;
    const secret = newKeySecret();
    const stored = await changes.commit({ entity: 'key', entity_id: id, action: 'rotated' }, async (client) => {
      const rotated = await new KeyRepository(client).rotate(id, secretDigest(secret), graceMs);
      if (!rotated) throw notFound(id);
      return rotated;
    });
    res.json({ ...presentKey(stored), secret });
  });

  return router;
}
