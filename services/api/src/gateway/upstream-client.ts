import type { UpstreamRequest } from '@model-router/providers';
import { Agent, type Dispatcher, errors } from 'undici';

export interface UpstreamClientOptions {
  connectTimeoutMs: number;
  /** Until the response's headers: a provider that accepts the connection and then stalls. */
  firstByteTimeoutMs: number;
  connectionsPerOrigin: number;
}

export type UpstreamResponse = Dispatcher.ResponseData;

/** Why an upstream call failed without an HTTP answer. */
export type TransportFailure = 'connect_timeout' | 'first_byte_timeout' | 'timeout' | 'connection' | 'aborted';

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
  if (error instanceof errors.ConnectTimeoutError) return new UpstreamTransportError('connect_timeout', error);
  if (error instanceof errors.HeadersTimeoutError) return new UpstreamTransportError('first_byte_timeout', error);
  if (error instanceof errors.BodyTimeoutError) return new UpstreamTransportError('timeout', error);
  if (error instanceof errors.RequestAbortedError || (error as { name?: string })?.name === 'AbortError') {
    return new UpstreamTransportError('aborted', error);
  }
  return new UpstreamTransportError('connection', error);
}

/**
 * The gateway's HTTP client for providers: one undici Agent, which keeps a pool of keep-alive
 * connections per origin (so each provider endpoint reuses its TLS sessions), with a connect
 * timeout and a first-byte (headers) timeout. The total timeout and the client's disconnect reach
 * the call through its AbortSignal.
 */
export class UpstreamClient {
  private readonly agent: Agent;

  constructor(options: UpstreamClientOptions) {
    this.agent = new Agent({
      connections: options.connectionsPerOrigin,
      connect: { timeout: options.connectTimeoutMs },
      headersTimeout: options.firstByteTimeoutMs,
      // Time between body chunks is bounded by the call's total timeout instead: a model may think
      // for a long while between two streamed tokens.
      bodyTimeout: 0,
      keepAliveTimeout: 30_000,
    });
  }

  /** Sends `request`; resolves with the status, headers and body stream, or throws a transport error. */
  async send(request: UpstreamRequest, signal: AbortSignal): Promise<UpstreamResponse> {
    const url = new URL(request.url);
    try {
      return await this.agent.request({
        origin: url.origin,
        path: `${url.pathname}${url.search}`,
        method: request.method,
        headers: request.headers,
        body: request.body,
        signal,
      });
    } catch (error) {
      throw classifyTransportError(error, signal.aborted ? signal.reason : undefined);
    }
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}
