import type { RequestHandler } from 'express';
import { Counter, Histogram, type Registry } from 'prom-client';

export interface HttpMetrics {
  requests: Counter<'method' | 'route' | 'status'>;
  duration: Histogram<'method' | 'route'>;
}

/** `model_router_http_requests_total` and `model_router_http_request_duration_seconds`. */
export function createHttpMetrics(registry: Registry): HttpMetrics {
  return {
    requests: new Counter({
      name: 'model_router_http_requests_total',
      help: 'HTTP requests answered, by method, route pattern and status code.',
      labelNames: ['method', 'route', 'status'],
      registers: [registry],
    }),
    duration: new Histogram({
      name: 'model_router_http_request_duration_seconds',
      help: 'HTTP request duration, by method and route pattern.',
      labelNames: ['method', 'route'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
      registers: [registry],
    }),
  };
}

/**
 * The route pattern a request matched (`/api/v1/models/:id`), never the raw path: ids would explode
 * the label's cardinality. Requests no route matched (404s, mounted sub-apps) are `unmatched`.
 */
export function routeLabel(req: { baseUrl: string; route?: { path?: unknown } }): string {
  return typeof req.route?.path === 'string' ? `${req.baseUrl}${req.route.path}` : 'unmatched';
}

/** What the `finish` listener needs, kept on the response (no closure per request). */
interface Timed {
  __httpStartedNs?: bigint;
  __httpRecord?: (req: { method: string; baseUrl: string; route?: { path?: unknown } }, status: number, seconds: number) => void;
  req: { method: string; baseUrl: string; route?: { path?: unknown } };
  statusCode: number;
}

/** One listener shared by every response: `this` is the response that finished. */
function onFinish(this: Timed): void {
  this.__httpRecord!(this.req, this.statusCode, Number(process.hrtime.bigint() - this.__httpStartedNs!) / 1e9);
}

/**
 * Counts and times every answered request by method, route pattern and status. The labelled
 * children are cached per label set, and one shared `finish` listener does the recording: both are
 * measurable on the hot path otherwise.
 */
export function countHttpRequests(metrics: HttpMetrics): RequestHandler {
  const children = new Map<string, { count: { inc(): void }; time: { observe(value: number): void } }>();
  const record: Timed['__httpRecord'] = (req, status, seconds) => {
    const route = routeLabel(req);
    const key = `${req.method} ${route} ${status}`;
    let child = children.get(key);
    if (!child) {
      child = {
        count: metrics.requests.labels({ method: req.method, route, status: String(status) }),
        time: metrics.duration.labels({ method: req.method, route }),
      };
      children.set(key, child);
    }
    child.count.inc();
    child.time.observe(seconds);
  };
  return (_req, res, next) => {
    const timed = res as unknown as Timed;
    timed.__httpStartedNs = process.hrtime.bigint();
    timed.__httpRecord = record;
    res.on('finish', onFinish);
    next();
  };
}
