/**
 * Load generation with autocannon, run in a Node process of its own (bench/lib/load-child.ts), so
 * the latencies it records are not stretched by garbage collection of whatever the bench process
 * did before (the in-process routing section leaves a large heap). Latency is recorded per
 * response with microsecond resolution (autocannon's own histogram keeps whole milliseconds, too
 * coarse for a p50 around one millisecond).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { clientAuthorization } from './keys.js';
import { rssLedger } from './rss.js';
import { SampleBuffer } from './stats.js';

export interface LoadOptions {
  url: string;
  body: string;
  connections: number;
  durationSeconds: number;
  headers?: Record<string, string>;
  /** Bodies sent in turn (each connection rotates through them); `body` when absent. */
  bodies?: readonly string[];
}

export interface LoadResult {
  requests_per_second: number;
  requests_total: number;
  duration_s: number;
  latency_ms: { p50: number; p90: number; p99: number; p999: number; mean: number; max: number };
  /** autocannon's own whole-millisecond p99, as a cross-check. */
  autocannon_p99_ms: number;
  /** CPU time the server process used during the run, per answered request (user + system). */
  server_cpu_us_per_request?: number;
  /**
   * CPU in use during the run, in cores (of 2): the whole machine, the bench (load generator),
   * the server, interrupts/softirqs (loopback TCP), and every other process (Redis and Postgres
   * serving the API count there too).
   */
  cpu?: { machine_busy_cores: number; bench_cores: number; server_cores: number; irq_cores: number; other_cores: number };
  /** CPU seconds the load generator's process used during the run. */
  generator_cpu_s?: number;
  status_counts: Record<string, number>;
  non2xx: number;
  errors: number;
  timeouts: number;
}

/** An autocannon request whose body is the next of `bodies` each time it is sent. */
function rotatingBodies(bodies: readonly string[]): autocannon.Request {
  let next = 0;
  return {
    setupRequest: (request) => {
      request.body = bodies[next]!;
      next = (next + 1) % bodies.length;
      return request;
    },
  };
}

/** Runs the load in this process (what the generator process does). */
export function runLoadHere(options: LoadOptions): Promise<LoadResult> {
  const latencies = new SampleBuffer(1 << 18);
  const statuses = new Map<number, number>();
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: options.url,
        method: 'POST',
        body: options.body,
        // Every load is a client's: the bench's client key (production mode refuses requests without one).
        headers: { 'content-type': 'application/json', ...clientAuthorization(), ...options.headers },
        connections: options.connections,
        pipelining: 1,
        duration: options.durationSeconds,
        ...(options.bodies?.length ? { requests: [rotatingBodies(options.bodies)] } : {}),
      },
      (error, result) => {
        if (error) {
          reject(error);
          return;
        }
        const s = latencies.summary();
        resolve({
          requests_per_second: result.requests.average,
          requests_total: result.requests.total,
          duration_s: result.duration,
          latency_ms: { p50: s.p50, p90: s.p90, p99: s.p99, p999: s.p999, mean: s.mean, max: s.max },
          autocannon_p99_ms: result.latency.p99,
          status_counts: Object.fromEntries([...statuses].map(([code, n]) => [String(code), n])),
          non2xx: result.non2xx,
          errors: result.errors,
          timeouts: result.timeouts,
        });
      },
    );
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      latencies.push(responseTime);
      statuses.set(statusCode, (statuses.get(statusCode) ?? 0) + 1);
    });
  });
}

export interface LoadGenerator {
  /** Runs one load (warm-up or measured) in the generator process. */
  run(options: LoadOptions): Promise<LoadResult>;
  stop(): Promise<void>;
}

interface ResultMessage {
  type: 'result';
  id: number;
  result?: LoadResult;
  error?: string;
}

const CHILD_SCRIPT = fileURLToPath(new URL('./load-child.ts', import.meta.url));

/** Starts a load-generator process (same Node, tsx loader) and waits until it is ready. */
export async function startLoadGenerator(): Promise<LoadGenerator> {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', CHILD_SCRIPT], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  await new Promise<void>((resolve, reject) => {
    const onMessage = (m: { type?: string }) => {
      if (m?.type === 'ready') {
        child.off('message', onMessage);
        resolve();
      }
    };
    child.on('message', onMessage);
    child.once('exit', (code) => reject(new Error(`load generator exited before it was ready (${code})`)));
  });
  rssLedger.idle('load-generator', child.pid!);
  let nextId = 0;
  const pending = new Map<number, { resolve: (r: LoadResult) => void; reject: (e: Error) => void }>();
  child.on('message', (m: ResultMessage) => {
    if (m?.type !== 'result') return;
    const waiter = pending.get(m.id);
    pending.delete(m.id);
    if (m.result) waiter?.resolve(m.result);
    else waiter?.reject(new Error(m.error ?? 'load generator failed'));
  });
  child.once('exit', (code) => {
    for (const waiter of pending.values()) waiter.reject(new Error(`load generator exited (${code})`));
    pending.clear();
  });
  return {
    run(options) {
      const id = nextId++;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        child.send({ type: 'run', id, options });
      });
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      rssLedger.after(child.pid!);
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.send({ type: 'stop' });
      await exited;
    },
  };
}
