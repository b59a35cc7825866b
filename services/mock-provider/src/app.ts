import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiError, errorHandler, notFoundHandler, opsRouter, requireApiKey, requestId, validationError } from '@model-router/http';
import type { Logger } from '@model-router/logger';
import express, { type Express, type Request, type Router } from 'express';
import { Counter, type Registry } from 'prom-client';
import type { ZodType } from 'zod';
import {
  chatCompletion,
  chatCompletionRequestSchema,
  injectedFailure,
  invalidRequest,
  modelDown,
  modelNotFound,
  modelObject,
  OpenAIError,
  openAIErrorHandler,
} from './openai.js';
import { modelIdSchema, type SettingsStore, settingsPatchSchema } from './settings.js';

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
  /** Milliseconds since the epoch, for `created`. */
  now?: () => number;
  /** Model ids listed by GET /v1/models besides those with settings of their own. */
  models?: readonly string[];
  /** Answer for any model id (the default), or only for listed and configured ones (else 404). */
  acceptAnyModel?: boolean;
  /** Largest chat request body accepted. */
  bodyLimit?: string;
}

/**
 * Waits at least `ms` by the monotonic clock (timers may fire a fraction of a millisecond early).
 * Resolves false if `signal` aborts first.
 */
async function wait(ms: number, signal: AbortSignal): Promise<boolean> {
  const start = performance.now();
  for (let left = ms; left > 0; left = ms - (performance.now() - start)) {
    try {
      await sleep(Math.ceil(left), undefined, { signal });
    } catch {
      return false;
    }
  }
  return !signal.aborted;
}

/** The model id of a `*id` route: Express 5 gives the path segments, so ids may contain "/". */
function wildcardId(req: Request): unknown {
  const raw = (req.params as Record<string, unknown>).id;
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
    help: 'Chat completions answered by the mock provider, by model and outcome (ok, error, down).',
    labelNames: ['model', 'outcome'],
    registers: [registry],
  });

  const isKnown = (id: string): boolean => acceptAnyModel || listed.has(id) || settings.has(id);
  const listedIds = (): string[] => [...new Set([...listed, ...settings.list().map((m) => m.id)])].sort();

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');
  app.use(requestId);
  app.use(opsRouter(registry, {}));

  // ---- The OpenAI-compatible surface: every answer, errors included, in OpenAI's shape.
  const v1: Router = express.Router();
  v1.use(express.json({ limit: options.bodyLimit ?? '10mb', strict: true }));

  v1.get('/models', (_req, res) => {
    res.json({ object: 'list', data: listedIds().map(modelObject) });
  });

  /** A cheap per-model probe for health checkers: no latency, no injected errors, only "down". */
  v1.get('/models/*id', (req, res) => {
    const parsed = modelIdSchema.safeParse(wildcardId(req));
    if (!parsed.success) throw invalidRequest(parsed.error, 'model id');
    const id = parsed.data;
    if (!isKnown(id)) throw modelNotFound(id);
    if (settings.get(id).down) throw modelDown(id);
    res.json(modelObject(id));
  });

  v1.post('/chat/completions', async (req, res) => {
    const parsed = chatCompletionRequestSchema.safeParse(req.body ?? null);
    if (!parsed.success) throw invalidRequest(parsed.error);
    const body = parsed.data;
    if (body.stream) {
      throw new OpenAIError(400, 'invalid_request_error', 'unsupported_parameter', 'The mock provider does not stream: send "stream": false.', 'stream');
    }
    if (!isKnown(body.model)) throw modelNotFound(body.model);

    const behaviour = settings.get(body.model);
    if (behaviour.down) {
      completions.inc({ model: body.model, outcome: 'down' });
      throw modelDown(body.model);
    }
    // Random draws, in this order: the jitter (only when jitter_ms > 0), then the failure (only
    // when 0 < error_rate < 1), so an injected sequence maps onto requests predictably.
    const jitter = behaviour.jitter_ms > 0 ? random() * behaviour.jitter_ms : 0;
    const aborted = new AbortController();
    res.once('close', () => aborted.abort());
    if (!(await wait(behaviour.latency_ms + jitter, aborted.signal))) return; // the caller left
    const fails = behaviour.error_rate >= 1 || (behaviour.error_rate > 0 && random() < behaviour.error_rate);
    if (fails) {
      completions.inc({ model: body.model, outcome: 'error' });
      throw injectedFailure(body.model);
    }
    completions.inc({ model: body.model, outcome: 'ok' });
    res.json(chatCompletion(body, now));
  });

  v1.use((req, _res, next) => {
    next(new OpenAIError(404, 'invalid_request_error', 'unknown_url', `Unknown request URL: ${req.method} ${req.baseUrl}${req.path}.`));
  });
  v1.use(openAIErrorHandler((err) => logger.error('unhandled error', { err })));
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
  control.post('/reset', (_req, res) => {
    settings.resetAll();
    logger.info('all settings reset');
    res.json(state());
  });
  app.use('/_control', control);

  app.use(notFoundHandler);
  app.use(errorHandler(logger));
  return app;
}
