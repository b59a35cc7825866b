import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { RequestHandler } from 'express';
import { ATTR } from './attributes.js';
import { tracingEnabled } from './init.js';

const tracer = trace.getTracer('@model-router/http');

/**
 * One SERVER span per HTTP request, continuing the caller's W3C trace context (`traceparent`), named
 * by route pattern (`POST /api/v1/route`) once the router has matched. Written here rather than with
 * the http/express auto-instrumentation: that one needs a module loader hook under ESM and wraps
 * every middleware in a span, while this costs one boolean check per request when tracing is off.
 */
export function traceHttpRequests(): RequestHandler {
  return (req, res, next) => {
    if (!tracingEnabled()) {
      next();
      return;
    }
    const parent = propagation.extract(ROOT_CONTEXT, req.headers);
    const span = tracer.startSpan(
      req.method,
      {
        kind: SpanKind.SERVER,
        attributes: { [ATTR.HTTP_REQUEST_METHOD]: req.method, [ATTR.URL_PATH]: req.path, [ATTR.URL_SCHEME]: req.protocol },
      },
      parent,
    );
    const active = trace.setSpan(parent, span);
    let ended = false;
    const end = (): void => {
      if (ended) return;
      ended = true;
      const route = req.route?.path ? `${req.baseUrl}${req.route.path as string}` : undefined;
      if (route) {
        span.setAttribute(ATTR.HTTP_ROUTE, route);
        span.updateName(`${req.method} ${route}`);
      }
      span.setAttribute(ATTR.HTTP_RESPONSE_STATUS_CODE, res.statusCode);
      const requestId = res.locals.requestId as string | undefined;
      if (requestId) span.setAttribute(ATTR.REQUEST_ID, requestId);
      if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    };
    res.once('finish', end);
    res.once('close', end);
    // Body parsing and 'finish' listeners run from stream events: bind them to the request's context.
    context.bind(active, req);
    context.bind(active, res);
    context.with(active, next);
  };
}
