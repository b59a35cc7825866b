import { randomBytes } from 'node:crypto';
import { AbTestRepository, type AbTestResultsReader, DuplicateEntityError, type StoredAbTest } from '@model-router/database';
import { type AbTestAction, canDelete, nextStatus, validateVariants } from '@model-router/domain';
import { ApiError, parseInput as parse } from '@model-router/http';
import express, { type RequestHandler, type Router } from 'express';
import type { ConfigChanges } from '../events/config-changes.js';
import type { MetricIngestion } from '../ingestion/metric-ingestion.js';
import type { SnapshotStore } from '../state/snapshot-store.js';
import {
  type AbMetric,
  abMetricSchema,
  abMetricsBatchSchema,
  abTestIdSchema,
  banditSettingsSchema,
  createAbTestSchema,
  listAbTestsQuerySchema,
} from './abtest.schema.js';

export interface AbTestRoutesDeps {
  abtests: AbTestRepository;
  /** The read model of GET /abtests/:id/results (rollups, CUPED, IPW, crossover → the analysis). */
  results: AbTestResultsReader;
  snapshots: SnapshotStore;
  changes: ConfigChanges;
  /** Metric reports, taken as POST /api/v1/metrics takes them. */
  ingestion: MetricIngestion;
  defaultStrategy: 'consistent_hash' | 'weighted_random';
  alpha: number;
  requireAdmin: RequestHandler;
  requireReader: RequestHandler;
  requireClient: RequestHandler;
}

const notFound = (id: string) => new ApiError('AB_TEST_NOT_FOUND', `A/B test "${id}" does not exist`);

export function abTestRoutes(deps: AbTestRoutesDeps): Router {
  const router = express.Router();
  const { abtests, changes, results } = deps;
  const pathId = (raw: string | string[] | undefined): string => parse(abTestIdSchema, raw, 'A/B test id');

  router.post('/abtests', deps.requireAdmin, async (req, res) => {
    const body = parse(createAbTestSchema, req.body);
    const problems = validateVariants(body.variants).map((p) => ({ path: `variants${p.path ? `.${p.path}` : ''}`, message: p.message }));
    const models = deps.snapshots.current.modelsById;
    body.variants.forEach((v, i) => {
      if (!models.has(v.model_id)) problems.push({ path: `variants.${i}.model_id`, message: `model "${v.model_id}" does not exist` });
    });
    if (body.start_time && body.end_time && Date.parse(body.end_time) <= Date.parse(body.start_time)) {
      problems.push({ path: 'end_time', message: 'must be after start_time' });
    }
    const strategy = body.strategy ?? deps.defaultStrategy;
    if (body.bandit && strategy !== 'thompson_sampling') {
      problems.push({ path: 'bandit', message: 'only a thompson_sampling test has bandit settings' });
    }
    const bandit = strategy === 'thompson_sampling' ? (body.bandit ?? banditSettingsSchema.parse({})) : null;
    if (bandit && bandit.min_share * body.variants.length > 1) {
      problems.push({ path: 'bandit.min_share', message: `min_share × ${body.variants.length} variants must be at most 1` });
    }
    if (problems.length) {
      throw new ApiError('VALIDATION_ERROR', `invalid A/B test: ${problems[0]!.path}: ${problems[0]!.message}`, problems);
    }
    const id = body.id ?? `test_${randomBytes(6).toString('hex')}`;
    const stored = await changes.commit({ entity: 'abtest', entity_id: id, action: 'created' }, async (client) => {
      try {
        return await new AbTestRepository(client).insert({
          id,
          name: body.name,
          description: body.description,
          strategy,
          variants: body.variants,
          start_time: body.start_time ?? null,
          end_time: body.end_time ?? null,
          created_by: body.created_by,
          analysis: { ...body.analysis, alpha: body.analysis.alpha ?? deps.alpha },
          guardrails: body.guardrails,
          bandit,
        });
      } catch (error) {
        if (error instanceof DuplicateEntityError) throw new ApiError('CONFLICT', error.message);
        throw error;
      }
    });
    res.status(201).location(`/api/v1/abtests/${encodeURIComponent(id)}`).json(stored);
  });

  router.get('/abtests', deps.requireReader, async (req, res) => {
    const query = parse(listAbTestsQuerySchema, req.query, 'query');
    const { tests, total } = await abtests.list(query);
    res.json({ tests, total, limit: query.limit, offset: query.offset });
  });

  router.get('/abtests/:id', deps.requireReader, async (req, res) => {
    const id = pathId(req.params.id);
    const test = await abtests.get(id);
    if (!test) throw notFound(id);
    res.json(test);
  });

  const transition = (action: AbTestAction): RequestHandler => async (req, res) => {
    const id = pathId(req.params.id);
    const updated = await changes.commit<StoredAbTest>(
      { entity: 'abtest', entity_id: id, action: action === 'start' ? 'started' : action === 'pause' ? 'paused' : 'completed' },
      async (client) => {
        const repo = new AbTestRepository(client);
        const test = await repo.get(id, { forUpdate: true });
        if (!test) throw notFound(id);
        const to = nextStatus(test.status, action);
        if (!to) {
          throw new ApiError('INVALID_TRANSITION', `cannot ${action} a test that is ${test.status}`, { from: test.status, action });
        }
        if (action === 'start' && test.end_time && Date.parse(test.end_time) <= Date.now()) {
          throw new ApiError('INVALID_TRANSITION', `cannot start a test whose end_time (${test.end_time}) has passed`, {
            from: test.status,
            action,
          });
        }
        return repo.setStatus(id, to);
      },
    );
    res.json(updated);
  };
  router.post('/abtests/:id/start', deps.requireAdmin, transition('start'));
  router.post('/abtests/:id/pause', deps.requireAdmin, transition('pause'));
  router.post('/abtests/:id/complete', deps.requireAdmin, transition('complete'));

  router.delete('/abtests/:id', deps.requireAdmin, async (req, res) => {
    const id = pathId(req.params.id);
    await changes.commit({ entity: 'abtest', entity_id: id, action: 'deleted' }, async (client) => {
      const repo = new AbTestRepository(client);
      const test = await repo.get(id, { forUpdate: true });
      if (!test) throw notFound(id);
      if (!canDelete(test.status)) {
        throw new ApiError('INVALID_TRANSITION', 'a running test cannot be deleted: pause or complete it first', { from: test.status, action: 'delete' });
      }
      await repo.delete(id);
    });
    res.status(204).end();
  });

  router.post('/abtests/:id/metrics', deps.requireClient, async (req, res) => {
    const id = pathId(req.params.id);
    const isBatch = typeof req.body === 'object' && req.body !== null && !Array.isArray(req.body) && 'metrics' in req.body;
    const metrics: AbMetric[] = isBatch ? parse(abMetricsBatchSchema, req.body).metrics : [parse(abMetricSchema, req.body)];
    const test = deps.snapshots.current.runningTests.get(id) ?? (await runningOrThrow(abtests, id));
    const variants = new Map(test.variants.map((v) => [v.id, v]));
    const unknown = metrics.flatMap((m, i) => (variants.has(m.variant_id) ? [] : [{ path: `metrics.${i}.variant_id`, message: `variant "${m.variant_id}" is not in test "${id}"` }]));
    if (unknown.length) throw new ApiError('VALIDATION_ERROR', `invalid metric: ${unknown[0]!.message}`, unknown);
    const reports = metrics.map(({ variant_id, model_id, ...m }) => ({
      ...m,
      model_id: model_id ?? variants.get(variant_id)!.model_id,
      ab_test_id: id,
      variant_id,
    }));
    res.status(202).json(await deps.ingestion.ingest(res, reports));
  });

  router.get('/abtests/:id/results', deps.requireReader, async (req, res) => {
    const id = pathId(req.params.id);
    const test = await abtests.get(id);
    if (!test) throw notFound(id);
    res.json(await results.read(test, { alpha: deps.alpha }));
  });

  return router;
}

/** The test, if it is running; 404 if it does not exist, 409 if it is not running. */
async function runningOrThrow(abtests: AbTestRepository, id: string): Promise<StoredAbTest> {
  const test = await abtests.get(id);
  if (!test) throw notFound(id);
  if (test.status !== 'running') {
    throw new ApiError('CONFLICT', `A/B test "${id}" is ${test.status}: metrics are accepted only while it runs`);
  }
  return test;
}
