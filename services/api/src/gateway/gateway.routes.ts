import { keyAllowsModel } from '@model-router/domain';
import { clientKeyIdOf } from '@model-router/http';
import type { Logger } from '@model-router/logger';
import express, { type ErrorRequestHandler, type RequestHandler, type Router } from 'express';
import type { KeyLimits } from '../keys/key-limits.js';
import { keyGrantFrom } from '../keys/key-scope.js';
import type { SnapshotStore } from '../state/snapshot-store.js';
import { type AttemptLoop, ClientPresence } from './attempt-loop.js';
import { gatewayRequestSchema, parseGatewayRequestFast, ROUTER_MODELS } from './chat-completions.schema.js';
import type { GatewayRouter } from './gateway-router.js';
import { jsonBody } from './json-body.js';
import { invalidRequest, OpenAIError, openAIErrorHandler } from './openai-error.js';

export interface GatewayRoutesDeps {
  snapshots: SnapshotStore;
  router: GatewayRouter;
  attempts: AttemptLoop;
  requireClient: RequestHandler;
  /** The rate limits of the request's API key; absent: none are applied. */
  keyLimits?: KeyLimits | null;
  bodyLimit: string;
  /** Whole-request deadline when the client sets none (`router.timeout_ms`). */
  defaultTimeoutMs: number;
  logger: Logger;
  /** Created time shown for every model (OpenAI's `created`, unix seconds). */
  startedAt: number;
}

/**
 * How long the request may take over all its attempts: the client's own deadline when it says one
 * (`router.timeout_ms`, or the `X-Stainless-Timeout` seconds the official OpenAI SDKs send with
 * every request), never more than the configured default.
 */
export function deadlineMs(routerTimeoutMs: number | undefined, sdkTimeout: string | string[] | undefined, defaultMs: number): number {
  let ms = routerTimeoutMs ?? defaultMs;
  const seconds = Number(Array.isArray(sdkTimeout) ? sdkTimeout[0] : sdkTimeout);
  if (sdkTimeout !== undefined && Number.isFinite(seconds) && seconds > 0) ms = Math.min(ms, seconds * 1000);
  return Math.min(ms, defaultMs);
}

/** The gateway's handlers: the hot route on its own, and the rest of /v1 as a router. */
export interface GatewayRoutes {
  /**
   * POST /v1/chat/completions as the parts of one route: its middleware (body parser, client key,
   * the call) and the OpenAI-shaped error handler, for `app.post('/v1/chat/completions',
   * chain(...middleware), errors)`: no router is walked and no path is matched twice on the hot
   * path, as for /api/v1/route.
   */
  chatCompletions: { middleware: RequestHandler[]; errors: ErrorRequestHandler };
  /** The rest of /v1, mounted at /v1: GET /models and OpenAI-shaped 404s. */
  router: Router;
}

/**
 * The OpenAI-compatible surface: POST /v1/chat/completions (route, call, fall back, record) and
 * GET /v1/models. Every error on these paths is in OpenAI's shape.
 */
export function gatewayRoutes(deps: GatewayRoutesDeps): GatewayRoutes {
  const json = express.json({ limit: deps.bodyLimit, strict: true });
  const errors = openAIErrorHandler(deps.logger);

  const chatCompletions: RequestHandler = async (req, res) => {
    if (req.body === undefined) {
      if (req.is('application/json')) throw new OpenAIError(400, 'The request body is empty: send a Chat Completions request', 'invalid_request_error', 'invalid_request');
      throw new OpenAIError(415, 'Send the body as JSON with "Content-Type: application/json"', 'invalid_request_error', 'unsupported_media_type');
    }
    let body = parseGatewayRequestFast(req.body);
    if (body === null) {
      const parsed = gatewayRequestSchema.safeParse(req.body);
      if (!parsed.success) throw invalidRequest(parsed.error);
      body = parsed.data;
    }
    const keyId = clientKeyIdOf(res.locals);
    const plan = await deps.router.plan(body, { keyId, grant: keyGrantFrom(res.locals) });
    // The key's rate limits count the estimate (prompt + max tokens) now, and the tokens the
    // attempts actually used once they are over (429 in OpenAI's shape when over a limit).
    // (A key without limits neither waits nor has its prompt counted for them.)
    const limited = deps.keyLimits?.limitedGrant(res) ?? null;
    const admission = limited ? await deps.keyLimits!.admitGrant(res, limited, plan.prompt_tokens + plan.max_tokens) : null;
    const used = { tokens: 0 };
    try {
      // The client leaving (its own timeout, a cancel) aborts the upstream call at once.
      const client = new ClientPresence();
      res.once('close', () => {
        if (!res.writableFinished) client.leave();
      });
      if (req.socket.destroyed) return; // the client left while the request was being routed
      await deps.attempts.run({
        requestId: res.locals.requestId as string,
        keyId,
        body,
        plan,
        res,
        client,
        deadline: Date.now() + deadlineMs(body.router?.timeout_ms, req.headers['x-stainless-timeout'], deps.defaultTimeoutMs),
        used,
      });
    } finally {
      if (admission) deps.keyLimits!.correct(admission, used.tokens);
    }
  };

  const router = express.Router();
  router.use(json);
  router.get('/models', deps.requireClient, (_req, res) => {
    const created = Math.floor(deps.startedAt / 1000);
    // A key limited to some models sees only those.
    const grant = keyGrantFrom(res.locals);
    const models = deps.snapshots.current.models.filter((m) => m.enabled && (grant === null || keyAllowsModel(grant, m)));
    res.json({
      object: 'list',
      data: [
        ...ROUTER_MODELS.map((id) => ({ id, object: 'model', created, owned_by: 'model-router' })),
        ...models.map((m) => ({ id: m.id, object: 'model', created, owned_by: m.provider })),
      ],
    });
  });
  router.use((req, _res, next) => {
    next(new OpenAIError(404, `Unknown request URL: ${req.method} ${req.baseUrl}${req.path}`, 'invalid_request_error', 'unknown_url'));
  });
  router.use(errors);
  return { chatCompletions: { middleware: [jsonBody(deps.bodyLimit, json), deps.requireClient, chatCompletions], errors }, router };
}
