import { ApiError, errorHandler, notFoundHandler, opsRouter, requireApiKey, requestId, validationError } from '@model-router/http';
import type { Logger } from '@model-router/logger';
import express, { type Express, type Request, type Router } from 'express';
import { Counter, type Registry } from 'prom-client';
import type { ZodType } from 'zod';
import { type CompletionRouteDeps, completionRoute, wireErrorHandler } from './completion-route.js';
import { MockError, modelDown, modelNotFound } from './mock-error.js';
import { RateLimitWindows } from './rate-limit-window.js';
import { RequestStats } from './request-stats.js';
import { modelIdSchema, type SettingsStore, settingsPatchSchema } from './settings.js';
import { anthropicWire } from './wire/anthropic.wire.js';
import { geminiWire, modelAndMethod } from './wire/gemini.wire.js';
import { modelObject, openAIWire } from './wire/openai.wire.js';

export interface MockProviderAppOptions {
  logger: Logger;
  /**
   * Key of the control API (`Authorization: Bearer <key>`): whoever can reach it can take every
   * model down, so it is never open. mock_provider.control_api_key, else the admin key.
   */
  controlApiKey: string;
  settings: SettingsStore;
  registry: Registry;
  /** Uniform in [0, 1): draws jitter and injected failures. Inject a fixed one for deterministic tests. */
  random?: () => number;
  /** Milliseconds since the epoch, for `created` and rate-limit windows. */
  now?: () => number;
  /** Model ids listed by GET /v1/models besides those with settings of their own. */
  models?: readonly string[];
  /** Answer for any model id (the default), or only for listed and configured ones (else 404). */
  acceptAnyModel?: boolean;
  /** Largest chat request body accepted. */
  bodyLimit?: string;
  /** Counts requests, outcomes and aborts; the server passes its own so stop() can see it. */
  stats?: RequestStats;
  /** Aborted when the server stops: stalled requests are cut then. */
  shutdown?: AbortSignal;
}

/** The model id of a `*id` route: Express 5 gives the path segments, so ids may contain "/". */
function wildcardId(req: Request, name = 'id'): unknown {
  const raw = (req.params as Record<string, unknown>)[name];
  return Array.isArray(raw) ? raw.join('/') : raw;
}

function parse<T>(schema: ZodType<T>, value: unknown, what: string): T {
  const result = schema.safeParse(value);
  if (!result.success) throw validationError(result.error, what);
  return result.data;
}

export function createMockProviderApp(options: MockProviderAppOptions): Express {
  const { logger, settings, registry } = options;
  const random = options.random ?? Math.random;
  const now = options.now ?? Date.now;
  const listed = new Set(options.models ?? []);
  const acceptAnyModel = options.acceptAnyModel ?? true;

  const completions = new Counter({
    name: 'model_router_mock_provider_completions_total',
    help: 'Completions requested from the mock provider, by model and outcome (ok, error, rate_limited, down, aborted by the client).',
    labelNames: ['model', 'outcome'],
    registers: [registry],
  });
  const stats = options.stats ?? new RequestStats();
  const rateLimits = new RateLimitWindows();

  const isKnown = (id: string): boolean => acceptAnyModel || listed.has(id) || settings.has(id);
  const listedIds = (): string[] => [...new Set([...listed, ...settings.list().map((m) => m.id)])].sort();
  const deps: CompletionRouteDeps = {
    settings,
    random,
    now,
    isKnown,
    stats,
    rateLimits,
    completions,
    shutdown: options.shutdown ?? new AbortController().signal,
  };
  const json = express.json({ limit: options.bodyLimit ?? '10mb', strict: true });
  const onUnexpected = (err: unknown) => logger.error('unhandled error', { err });
  /** A cheap per-model probe for health checkers: no latency, no injected errors, only "down". */
  const probe = (id: string) => {
    if (!isKnown(id)) throw modelNotFound(id);
    if (settings.get(id).down) throw modelDown(id);
  };
  const badModelId = () => new MockError(400, 'invalid_request', 'invalid_value', 'Invalid model id.', 'model');

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');
  app.use(requestId);
  app.use(opsRouter(registry, {}));

  // ---- Gemini: /v1beta/models/{model}:generateContent | :streamGenerateContent, and the model probe.
  // Google serves the same under /v1 (newer SDKs' default), where POST /v1/models/* is not OpenAI's.
  const GEMINI_METHODS = new Set(['generateContent', 'streamGenerateContent']);
  const geminiCompletions: Router = express.Router();
  geminiCompletions.post(
    '/models/*target',
    (req, _res, next) => {
      const target = modelAndMethod(String(wildcardId(req, 'target')));
      if (!target || !GEMINI_METHODS.has(target.method)) {
        throw new MockError(404, 'not_found', 'unknown_url', `Unknown request URL: ${req.method} ${req.baseUrl}${req.path}.`);
      }
      if (!modelIdSchema.safeParse(target.model).success) throw badModelId();
      (req as Request & { geminiTarget?: unknown }).geminiTarget = target;
      next();
    },
    json,
    completionRoute(geminiWire, deps),
  );
  geminiCompletions.use(wireErrorHandler(geminiWire, onUnexpected));
  const v1beta: Router = express.Router();
  v1beta.use(geminiCompletions);
  v1beta.get('/models/*id', (req, res) => {
    const parsed = modelIdSchema.safeParse(wildcardId(req));
    if (!parsed.success) throw badModelId();
    probe(parsed.data);
    res.json({ name: `models/${parsed.data}`, displayName: parsed.data, supportedGenerationMethods: [...GEMINI_METHODS] });
  });
  v1beta.use((req, _res, next) => {
    next(new MockError(404, 'not_found', 'unknown_url', `Unknown request URL: ${req.method} ${req.baseUrl}${req.path}.`));
  });
  v1beta.use(wireErrorHandler(geminiWire, onUnexpected));
  app.use('/v1beta', v1beta);
  app.use('/v1', geminiCompletions);

  // ---- Anthropic Messages (mounted before /v1, which answers everything else in OpenAI's shape).
  const messages: Router = express.Router();
  messages.post('/', json, completionRoute(anthropicWire, deps));
  messages.use(wireErrorHandler(anthropicWire, onUnexpected));
  app.use('/v1/messages', messages);

  // ---- The OpenAI-compatible surface: every answer, errors included, in OpenAI's shape.
  const v1: Router = express.Router();
  v1.get('/models', (_req, res) => {
    res.json({ object: 'list', data: listedIds().map(modelObject) });
  });
  v1.get('/models/*id', (req, res) => {
    const parsed = modelIdSchema.safeParse(wildcardId(req));
    if (!parsed.success) throw badModelId();
    probe(parsed.data);
    res.json(modelObject(parsed.data));
  });
  v1.post('/chat/completions', json, completionRoute(openAIWire, deps));
  v1.use((req, _res, next) => {
    next(new MockError(404, 'invalid_request', 'unknown_url', `Unknown request URL: ${req.method} ${req.baseUrl}${req.path}.`));
  });
  v1.use(wireErrorHandler(openAIWire, onUnexpected));
  app.use('/v1', v1);

  // ---- The control API (the project's own error envelope): change behaviour at runtime.
  const control: Router = express.Router();
  control.use(requireApiKey([options.controlApiKey], 'mock provider control'));
  control.use(express.json({ limit: '100kb', strict: true }));
  const patchBody = (req: Request) => {
    if (req.body === undefined) throw new ApiError('VALIDATION_ERROR', 'send a JSON object with "Content-Type: application/json"');
    return parse(settingsPatchSchema, req.body, 'settings');
  };
  const state = () => ({ defaults: settings.getDefaults(), models: settings.list() });

  control.get('/models', (_req, res) => {
    res.json(state());
  });
  control.get('/models/*id', (req, res) => {
    const id = parse(modelIdSchema, wildcardId(req), 'model id');
    res.json({ id, ...settings.get(id) });
  });
  control.put('/models/*id', (req, res) => {
    const id = parse(modelIdSchema, wildcardId(req), 'model id');
    const updated = settings.set(id, patchBody(req));
    logger.info('model settings changed', { model: id, settings: updated });
    res.json({ id, ...updated });
  });
  control.delete('/models/*id', (req, res) => {
    const id = parse(modelIdSchema, wildcardId(req), 'model id');
    const reset = settings.reset(id);
    logger.info('model settings reset', { model: id, settings: reset });
    res.json({ id, ...reset });
  });
  control.get('/defaults', (_req, res) => {
    res.json(settings.getDefaults());
  });
  control.put('/defaults', (req, res) => {
    const updated = settings.setDefaults(patchBody(req));
    logger.info('default settings changed', { settings: updated });
    res.json(updated);
  });
  control.get('/stats', (_req, res) => {
    res.json(stats.snapshot());
  });
  control.delete('/stats', (_req, res) => {
    stats.reset();
    res.json(stats.snapshot());
  });
  control.post('/reset', (_req, res) => {
    settings.resetAll();
    stats.reset();
    rateLimits.clear();
    logger.info('all settings reset');
    res.json(state());
  });
  app.use('/_control', control);

  app.use(notFoundHandler);
  app.use(errorHandler(logger));
  return app;
}
