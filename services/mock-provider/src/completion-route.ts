/**
 * One completion request on any surface: read it, decide its delay, pace and failure, then answer
 * whole or as a stream in the surface's wire format. Kept cheap: the mock is the ceiling of the
 * gateway bench, so an unpaced stream goes out in one write.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ErrorRequestHandler, Request, RequestHandler, Response } from 'express';
import type { Counter } from 'prom-client';
import { answer } from './conversation.js';
import { bodyParserError, injectedFailure, injectedOverload, MockError, modelDown, modelNotFound, rateLimited } from './mock-error.js';
import { anthropicRateLimitHeaders, type RateLimitWindows } from './rate-limit-window.js';
import { planRequest } from './request-plan.js';
import type { RequestOutcome, RequestStats } from './request-stats.js';
import type { SettingsStore } from './settings.js';
import type { WireFormat } from './wire/wire-format.js';

export interface CompletionRouteDeps {
  settings: SettingsStore;
  random: () => number;
  now: () => number;
  isKnown: (model: string) => boolean;
  stats: RequestStats;
  rateLimits: RateLimitWindows;
  /** model_router_mock_provider_completions_total{model, outcome}. */
  completions: Counter<'model' | 'outcome'>;
  /** Aborts when the server stops: stalled requests are cut then instead of holding the stop. */
  shutdown: AbortSignal;
}

/**
 * Waits until `deadline` (performance.now() milliseconds; timers may fire a fraction of a
 * millisecond early). Resolves false if `signal` aborts first.
 */
async function waitUntil(deadline: number, signal: AbortSignal): Promise<boolean> {
  for (let left = deadline - performance.now(); left > 0; left = deadline - performance.now()) {
    try {
      await sleep(Math.ceil(left), undefined, { signal });
    } catch {
      return false;
    }
  }
  return !signal.aborted;
}

/** Resolves once either signal aborts: a stall lasts until the client leaves or the server stops. */
function untilEither(a: AbortSignal, b: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (a.aborted || b.aborted) return resolve();
    a.addEventListener('abort', () => resolve(), { once: true });
    b.addEventListener('abort', () => resolve(), { once: true });
  });
}

/** A fixed abort reason: abort() without one builds a DOMException with a stack on every request. */
const CONNECTION_CLOSED = Object.freeze({ reason: 'connection closed' });

const SSE_HEADERS = { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' };

export function completionRoute(wire: WireFormat, deps: CompletionRouteDeps): RequestHandler {
  return async (req: Request, res: Response) => {
    const request = wire.parse(req);
    const model = request.prompt.model;
    if (!deps.isKnown(model)) throw modelNotFound(model);
    const settings = deps.settings.get(model);
    if (settings.down) {
      deps.completions.inc({ model, outcome: 'down' });
      throw modelDown(model);
    }
    const plan = planRequest(settings, req.headers, deps.random);

    // How the request ended is decided once: by the mock when it answers, fails or resets, or by
    // the client closing the connection before the answer was complete ("aborted").
    let outcome: RequestOutcome | null = null;
    const decide = (value: RequestOutcome, label: string = value) => {
      if (outcome) return;
      outcome = value;
      deps.stats.ended(wire.api, model, value);
      deps.completions.inc({ model, outcome: label });
    };
    deps.stats.started(wire.api, model);
    const clientLeft = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) decide('aborted');
      clientLeft.abort(CONNECTION_CLOSED);
    });
    /** Before the first byte: a TCP reset, as a crashed or overloaded upstream gives. */
    const reset = () => {
      decide('failed', 'error');
      req.socket.resetAndDestroy();
    };
    /**
     * After the first bytes: the connection closes with the answer unfinished. A FIN after the
     * written bytes, not a reset, which could discard them unread at the client.
     */
    const cut = () => {
      decide('failed', 'error');
      req.socket.end();
    };
    const stall = async () => {
      await untilEither(clientLeft.signal, deps.shutdown);
      if (!clientLeft.signal.aborted) reset();
    };

    if (settings.rate_limit_requests > 0) {
      const verdict = deps.rateLimits.take(model, settings.rate_limit_requests, settings.rate_limit_window_ms, deps.now());
      for (const [name, value] of Object.entries(verdict.headers)) res.setHeader(name, value);
      if (wire.api === 'anthropic') {
        for (const [name, value] of Object.entries(anthropicRateLimitHeaders(verdict.limit, verdict.remaining, verdict.resetAt))) res.setHeader(name, value);
      }
      if (verdict.limited) {
        res.setHeader('retry-after', String(verdict.retryAfterS));
        decide('failed', 'rate_limited');
        throw rateLimited(model, verdict.retryAfterS);
      }
    }

    const started = performance.now();
    if (!(await waitUntil(started + plan.delayMs, clientLeft.signal))) return;

    switch (plan.failure) {
      case 'server_error':
        decide('failed', 'error');
        throw injectedFailure(model);
      case 'overloaded':
        decide('failed', 'error');
        throw injectedOverload(model);
      case 'rate_limit':
        res.setHeader('retry-after', String(plan.retryAfterS));
        res.setHeader('x-ratelimit-limit-requests', String(Math.max(1, settings.rate_limit_requests)));
        res.setHeader('x-ratelimit-remaining-requests', '0');
        res.setHeader('x-ratelimit-reset-requests', `${plan.retryAfterS}s`);
        if (wire.api === 'anthropic') {
          const headers = anthropicRateLimitHeaders(Math.max(1, settings.rate_limit_requests), 0, deps.now() + plan.retryAfterS * 1000);
          for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
        }
        decide('failed', 'rate_limited');
        throw rateLimited(model, plan.retryAfterS);
      case 'reset':
        return reset();
      case 'stall':
        return stall();
      default:
        break;
    }

    const result = answer(request.prompt, wire.newToolCallId);
    const ids = wire.newIds(deps.now());
    const midStream = plan.failure; // only mid_stream_* kinds are left
    const interval = plan.tokensPerSecond > 0 ? 1000 / plan.tokensPerSecond : 0;

    if (!request.stream) {
      // Not streamed: the whole generation time passes before the first byte.
      const pieces = Math.max(1, result.pieces.length);
      if (interval > 0 && !(await waitUntil(performance.now() + (pieces - 1) * interval, clientLeft.signal))) return;
      const body = wire.completion(request, result, ids);
      const text = JSON.stringify(request.jsonArray ? [body] : body);
      if (midStream) {
        res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
        res.write(text.slice(0, Math.floor(text.length / 2)));
        return midStream === 'mid_stream_stall' ? stall() : cut();
      }
      decide('ok');
      res.setHeader('content-type', 'application/json; charset=utf-8');
      res.end(text);
      return;
    }

    const script = wire.stream(request, result, ids);
    const sent = midStream ? Math.min(plan.failAfterPieces, script.pieces.length) : script.pieces.length;
    res.writeHead(200, SSE_HEADERS);
    if (interval === 0) {
      let text = script.head;
      for (let i = 0; i < sent; i++) text += script.pieces[i];
      if (!midStream) {
        decide('ok');
        res.end(text + script.tail);
        return;
      }
      res.write(text);
    } else {
      // The first piece goes with the head (that is the time to first token); piece i at i × interval after it.
      const first = performance.now();
      res.write(sent > 0 ? script.head + script.pieces[0] : script.head);
      for (let i = 1; i < sent; i++) {
        if (!(await waitUntil(first + i * interval, clientLeft.signal))) return;
        res.write(script.pieces[i]);
      }
      if (!midStream) {
        decide('ok');
        res.end(script.tail);
        return;
      }
    }
    if (midStream === 'mid_stream_error') {
      decide('failed', 'error');
      res.end(wire.streamError(injectedFailure(model)));
    } else if (midStream === 'mid_stream_reset') cut();
    else await stall();
  };
}

/** Errors on a surface answer in that surface's shape; after the first byte the connection is cut. */
export function wireErrorHandler(wire: WireFormat, onUnexpected: (error: unknown) => void): ErrorRequestHandler {
  return (err, _req, res, _next) => {
    let error = err instanceof MockError ? err : bodyParserError(err);
    if (!error) {
      onUnexpected(err);
      error = new MockError(500, 'server_error', 'internal_error', 'The mock provider had an internal error.');
    }
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.status(wire.errorStatus(error)).json(wire.errorBody(error));
  };
}
