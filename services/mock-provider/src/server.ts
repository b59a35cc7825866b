import type { ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DEVELOPMENT_ADMIN_API_KEY } from '@model-router/config';
import { loadTokenizer } from '@model-router/domain';
import { closeServer, createMetricsRegistry } from '@model-router/http';
import type { Logger } from '@model-router/logger';
import type { Express } from 'express';
import type { Registry } from 'prom-client';
import { createMockProviderApp } from './app.js';
import { RequestStats } from './request-stats.js';
import { type InitialSettings, SettingsStore } from './settings.js';

export interface MockProviderOptions {
  /** Interface to listen on; default 127.0.0.1. */
  host?: string;
  /** Port to listen on; 0 (the default) picks a free one, see `url`. */
  port?: number;
  logger: Logger;
  /** Start-up settings (what "reset" returns to): `defaults` for every model, `models` by id. */
  initial?: InitialSettings;
  /** Uniform in [0, 1): draws jitter and injected failures. Default Math.random. */
  random?: () => number;
  /** Milliseconds since the epoch, for `created`. Default Date.now. */
  now?: () => number;
  /** Model ids listed by GET /v1/models besides those with settings of their own. */
  models?: readonly string[];
  /** Answer for any model id (default true), or 404 for ids neither listed nor configured. */
  acceptAnyModel?: boolean;
  /** Largest chat request body accepted; default "10mb". */
  bodyLimit?: string;
  /** How long in-flight requests get to finish on stop; default 5 s. */
  shutdownTimeoutMs?: number;
  /** Default: a new registry labelled service="mock-provider". */
  registry?: Registry;
  /** Key of the control API (/_control); default the development key (`mockProviderControlKey(config)` in main). */
  controlApiKey?: string;
}

export interface RunningMockProvider {
  /** e.g. http://127.0.0.1:9010 (no trailing slash; the OpenAI base URL is `${url}/v1`). */
  url: string;
  port: number;
  app: Express;
  /** The live settings: tests may change behaviour here instead of through the control API. */
  settings: SettingsStore;
  /** Requests, outcomes and client aborts so far (also GET /_control/stats). */
  stats: RequestStats;
  registry: Registry;
  stop: () => Promise<void>;
}

/** Starts the mock provider in this process (tests use port 0) and resolves once it listens. */
export async function startMockProvider(options: MockProviderOptions): Promise<RunningMockProvider> {
  const host = options.host ?? '127.0.0.1';
  const settings = new SettingsStore(options.initial);
  const registry = options.registry ?? createMetricsRegistry('mock-provider');
  const stats = new RequestStats();
  const shutdown = new AbortController();
  const app = createMockProviderApp({
    stats,
    shutdown: shutdown.signal,
    logger: options.logger,
    settings,
    registry,
    controlApiKey: options.controlApiKey ?? DEVELOPMENT_ADMIN_API_KEY,
    ...(options.random ? { random: options.random } : {}),
    ...(options.now ? { now: options.now } : {}),
    ...(options.models ? { models: options.models } : {}),
    ...(options.acceptAnyModel === undefined ? {} : { acceptAnyModel: options.acceptAnyModel }),
    ...(options.bodyLimit ? { bodyLimit: options.bodyLimit } : {}),
  });
  // It counts the tokens of what it is asked and answers: built now, not on the first request.
  loadTokenizer();
  const server = app.listen(options.port ?? 0, host);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  server.keepAliveTimeout = 65_000;
  const { port } = server.address() as AddressInfo;
  const urlHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;

  // closeServer closes idle keep-alive connections once, when it starts; a connection whose request
  // was in flight then stays open after its answer until the deadline. Answer in-flight and late
  // requests with "Connection: close" so each connection ends with its last answer.
  let stopping = false;
  const unanswered = new Set<ServerResponse>();
  server.prependListener('request', (_req, res: ServerResponse) => {
    if (stopping) res.setHeader('connection', 'close');
    unanswered.add(res);
    res.once('close', () => unanswered.delete(res));
  });
  let stopped: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopping = true;
    shutdown.abort(); // stalled requests end now instead of holding the stop until its deadline
    for (const res of unanswered) if (!res.headersSent) res.setHeader('connection', 'close');
    return closeServer(server, options.shutdownTimeoutMs ?? 5000);
  };
  return {
    url: `http://${urlHost}:${port}`,
    port,
    app,
    settings,
    stats,
    registry,
    stop: () => (stopped ??= stop()),
  };
}
