import { lookup as dnsLookup } from 'node:dns';
import type { LookupFunction } from 'node:net';
import { addressRefusal, type EndpointPolicy, endpointRefusal } from '@model-router/domain';
import type { UpstreamRequest } from '@model-router/providers';
import { Agent, type Dispatcher, errors } from 'undici';

export interface UpstreamClientOptions {
  /**
   * Which endpoints may be called (security.allow_private_endpoints, production mode): the same
   * policy as the registry's and the health prober's, applied to the URL and, on each new
   * connection, to every address its name resolves to.
   */
  policy: EndpointPolicy;
  /** Name resolution (tests give names of their own); default the system resolver. */
  resolve?: LookupFunction;
  connectTimeoutMs: number;
  /** Until the response's headers: a provider that accepts the connection and then stalls. */
  firstByteTimeoutMs: number;
  connectionsPerOrigin: number;
}

export type ResponseHeaders = Dispatcher.ResponseData['headers'];

/** An answer read to its end (a non-streamed call): status, headers and the whole body. */
export interface WholeResponse {
  statusCode: number;
  headers: ResponseHeaders;
  body: Buffer;
}

/** How the reader of a streamed answer steers its reading. */
export interface StreamControl {
  /** Stops reading until `resume` (the client's socket is full: backpressure up to the provider). */
  pause(): void;
  resume(): void;
  /** Stops reading for good and drops the connection; the call then ends as if the body had ended. */
  stop(): void;
}

/** Reads an answer as it comes: the status and headers once, then each piece of the body. */
export interface AnswerReader {
  onHeaders(statusCode: number, headers: ResponseHeaders, control: StreamControl): void;
  onData(chunk: Buffer): void;
}

const noop = (): void => undefined;

/** An answer's body as text, as undici's body.text() reads it (UTF-8, a leading byte-order mark dropped). */
export function bodyText(body: Buffer): string {
  const text = body.toString('utf8');
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/**
 * The status and headers of an answer came, then reading its body failed: an error answer's body
 * however it failed, a success's body when the call was not aborted (an abort is a transport error).
 */
export class BodyReadError extends Error {
  constructor(
    readonly statusCode: number,
    readonly headers: ResponseHeaders,
    override readonly cause: unknown,
  ) {
    super((cause as Error)?.message ?? String(cause));
  }
}

/**
 * Hands an answer to its reader straight from undici's dispatch callbacks: no body stream, no
 * async resource and no promise per piece, which `request()` builds for every answer (on the
 * streaming path each of those is a step between the provider's first token and the client's).
 * Aborting `signal` aborts the call (before or after the headers) with the signal's reason.
 */
class AnswerHandler implements Dispatcher.DispatchHandler, StreamControl {
  private controller: Dispatcher.DispatchController | null = null;
  private stopped = false;
  private readonly onAbort = (): void => this.controller?.abort(this.signal.reason);

  constructor(
    private readonly signal: AbortSignal,
    private readonly reader: AnswerReader,
    private readonly resolve: () => void,
    private readonly reject: (error: unknown) => void,
  ) {
    signal.addEventListener('abort', this.onAbort);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    if (this.signal.aborted) {
      controller.abort(this.signal.reason);
      return;
    }
    this.controller = controller;
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number, headers: ResponseHeaders): void {
    if (statusCode < 200) return; // 1xx: informational, the answer follows
    this.reader.onHeaders(statusCode, headers, this);
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (!this.stopped) this.reader.onData(chunk);
  }

  onResponseEnd(): void {
    this.signal.removeEventListener('abort', this.onAbort);
    this.resolve();
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    this.signal.removeEventListener('abort', this.onAbort);
    if (this.stopped) this.resolve();
    else this.reject(error);
  }

  pause(): void {
    this.controller?.pause();
  }

  resume(): void {
    this.controller?.resume();
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.controller?.abort(new Error('the reader stopped reading'));
  }
}

/** Why an upstream call failed without an HTTP answer. */
export type TransportFailure = 'connect_timeout' | 'first_byte_timeout' | 'timeout' | 'connection' | 'aborted' | 'refused';

/** The classified failure of a call that got no HTTP answer (or lost it mid-body). */
export class UpstreamTransportError extends Error {
  constructor(
    readonly kind: TransportFailure,
    override readonly cause: unknown,
  ) {
    super(`upstream ${kind.replace(/_/g, ' ')}: ${(cause as Error)?.message ?? String(cause)}`);
  }
}

/** Classifies what undici (or an abort) threw. `reason` is the abort signal's reason, if it fired. */
export function classifyTransportError(error: unknown, reason?: unknown): UpstreamTransportError {
  if (error instanceof UpstreamTransportError) return error;
  if (reason instanceof UpstreamTransportError) return reason;
  if ((error as { code?: string })?.code === REFUSED_ADDRESS) return new UpstreamTransportError('refused', error);
  if (error instanceof errors.ConnectTimeoutError) return new UpstreamTransportError('connect_timeout', error);
  if (error instanceof errors.HeadersTimeoutError) return new UpstreamTransportError('first_byte_timeout', error);
  if (error instanceof errors.BodyTimeoutError) return new UpstreamTransportError('timeout', error);
  if (error instanceof errors.RequestAbortedError || (error as { name?: string })?.name === 'AbortError') {
    return new UpstreamTransportError('aborted', error);
  }
  return new UpstreamTransportError('connection', error);
}

const REFUSED_ADDRESS = 'EREFUSED_ADDRESS';

/** An upstream URL split for undici, with the policy's verdict on its origin. */
interface Target {
  origin: string;
  path: string;
  refusal: string | null;
}

const MAX_REMEMBERED = 1024;

function remember<V>(map: Map<string, V>, key: string, value: V): void {
  if (map.size >= MAX_REMEMBERED) map.clear();
  map.set(key, value);
}

/**
 * A `lookup` for new upstream connections: resolves as usual, then refuses the connection if any
 * address the name resolves to is one the policy refuses. The address checked is the one connected
 * to (no second resolution a rebinding DNS server could answer differently), as in the health
 * prober's `checkedLookup`. Pooled connections were checked when they were opened.
 */
function checkedLookup(policy: EndpointPolicy, resolve: LookupFunction): LookupFunction {
  return (hostname, options, callback) => {
    resolve(hostname, options, (error, address, family) => {
      if (error) return callback(error, address, family);
      for (const resolved of Array.isArray(address) ? address.map((a) => a.address) : [address]) {
        const refusal = addressRefusal(resolved, policy);
        if (refusal) return callback(Object.assign(new Error(`${hostname} resolves to ${refusal}`), { code: REFUSED_ADDRESS }), address, family);
      }
      callback(null, address, family);
    });
  };
}

/**
 * The gateway's HTTP client for providers: one undici Agent, which keeps a pool of keep-alive
 * connections per origin (so each provider endpoint reuses its TLS sessions), with a connect
 * timeout and a first-byte (headers) timeout. The total timeout and the client's disconnect reach
 * the call through its AbortSignal.
 */
export class UpstreamClient {
  private readonly agent: Agent;
  private readonly policy: EndpointPolicy;
  /**
   * What each URL called so far is, and whether the policy refuses it: the policy is this client's
   * and fixed, a model's URL rarely changes, and parsing and checking it on every call is
   * measurable on the gateway's hot path. Bounded: emptied when it is full.
   */
  private readonly targets = new Map<string, Target>();
  private readonly refusals = new Map<string, string | null>();

  constructor(options: UpstreamClientOptions) {
    this.policy = options.policy;
    this.agent = new Agent({
      connections: options.connectionsPerOrigin,
      connect: { timeout: options.connectTimeoutMs, lookup: checkedLookup(options.policy, options.resolve ?? (dnsLookup as LookupFunction)) },
      headersTimeout: options.firstByteTimeoutMs,
      // Time between body chunks is bounded by the call's total timeout instead: a model may think
      // for a long while between two streamed tokens.
      bodyTimeout: 0,
      keepAliveTimeout: 30_000,
    });
  }

  /** Why the policy refuses a model's endpoint (its stored base URL), or null when it may be called. */
  refusal(endpoint: string): string | null {
    let refusal = this.refusals.get(endpoint);
    if (refusal === undefined) {
      refusal = endpointRefusal(endpoint, this.policy);
      remember(this.refusals, endpoint, refusal);
    }
    return refusal;
  }

  private target(href: string): Target {
    let target = this.targets.get(href);
    if (!target) {
      const url = new URL(href);
      // The origin only: the adapters add their own path and query (Gemini's ?alt=sse).
      target = { origin: url.origin, path: `${url.pathname}${url.search}`, refusal: endpointRefusal(url.origin, this.policy) };
      remember(this.targets, href, target);
    }
    return target;
  }

  /**
   * Sends `request` and hands its answer to `reader` as it comes; resolves once the body has ended
   * (or the reader stopped it). Throws a transport error: `refused`, with nothing sent, when the
   * policy refuses the host or what it resolves to; else how the call failed, before or after the
   * headers (the reader knows whether they came).
   */
  async stream(request: UpstreamRequest, signal: AbortSignal, reader: AnswerReader): Promise<void> {
    try {
      await this.dispatch(request, signal, reader);
    } catch (error) {
      throw classifyTransportError(error, signal.aborted ? signal.reason : undefined);
    }
  }

  /**
   * Sends `request` and reads its answer whole (a non-streamed call); `onHeaders` runs when the
   * status and headers arrive (the first byte). Throws a transport error, or a `BodyReadError`
   * when the body failed after the headers.
   */
  async sendWhole(request: UpstreamRequest, signal: AbortSignal, onHeaders: () => void = noop): Promise<WholeResponse> {
    let statusCode = 0;
    let headers: ResponseHeaders = {};
    const chunks: Buffer[] = [];
    try {
      await this.dispatch(request, signal, {
        onHeaders(status, received) {
          statusCode = status;
          headers = received;
          onHeaders();
        },
        onData(chunk) {
          chunks.push(chunk);
        },
      });
    } catch (error) {
      const success = statusCode >= 200 && statusCode < 300;
      if (statusCode !== 0 && (!success || !signal.aborted)) throw new BodyReadError(statusCode, headers, error);
      throw classifyTransportError(error, signal.aborted ? signal.reason : undefined);
    }
    return { statusCode, headers, body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks) };
  }

  private dispatch(request: UpstreamRequest, signal: AbortSignal, reader: AnswerReader): Promise<void> {
    const target = this.target(request.url);
    if (target.refusal) return Promise.reject(new UpstreamTransportError('refused', new Error(`${target.origin}: ${target.refusal}`)));
    return new Promise<void>((resolve, reject) => {
      this.agent.dispatch(
        { origin: target.origin, path: target.path, method: request.method, headers: request.headers, body: request.body },
        new AnswerHandler(signal, reader, resolve, reject),
      );
    });
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}
