/**
 * Runs a benchmark server in its own Node process (so the load generator in the bench process
 * does not share its event loop) with the same Node binary and tsx loader as the bench itself.
 * The child reports readiness over the IPC channel: `{ type: 'ready', url, ...extra }`, and may
 * answer named requests (`{ type: 'request', id, name }` → `{ type: 'response', id, value | error }`);
 * every child answers "cpu" with its process.cpuUsage().
 */
import { resolve } from 'node:path';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { rssLedger } from './rss.js';

export interface ReadyMessage {
  type: 'ready';
  url: string;
  [key: string]: unknown;
}

export interface ChildServer {
  name: string;
  pid: number;
  ready: ReadyMessage;
  /** Asks the child to run one of its named handlers and returns what it answered. */
  request: (name: string, timeoutMs?: number) => Promise<unknown>;
  stop: () => Promise<void>;
}

interface ResponseMessage {
  type: 'response';
  id: number;
  value?: unknown;
  error?: string;
}

export interface StartOptions {
  name: string;
  /** Path of the server script, relative to `cwd`. */
  script: string;
  cwd: string;
  env?: Record<string, string>;
  /** Extra Node flags, e.g. ['--cpu-prof', '--cpu-prof-dir=…']. */
  nodeArgs?: string[];
  timeoutMs?: number;
}

function waitForExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

export async function startChildServer(options: StartOptions): Promise<ChildServer> {
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), '--import', 'tsx', options.script], {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const timeoutMs = options.timeoutMs ?? 60_000;

  const ready = await new Promise<ReadyMessage>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${options.name}: not ready after ${timeoutMs} ms`));
    }, timeoutMs);
    child.on('message', (message: unknown) => {
      const m = message as Partial<ReadyMessage> | null;
      if (m && m.type === 'ready' && typeof m.url === 'string') {
        clearTimeout(timer);
        resolve(m as ReadyMessage);
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${options.name}: exited before it was ready (code ${code}, signal ${signal})`));
    });
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });

  let nextId = 0;
  const waiting = new Map<number, (m: ResponseMessage) => void>();
  child.on('message', (message: unknown) => {
    const m = message as Partial<ResponseMessage> | null;
    if (m && m.type === 'response' && typeof m.id === 'number') waiting.get(m.id)?.(m as ResponseMessage);
  });
  const request = (name: string, ms = 60_000): Promise<unknown> =>
    new Promise((resolve, reject) => {
      const id = ++nextId;
      const timer = setTimeout(() => {
        waiting.delete(id);
        reject(new Error(`${options.name}: no answer to "${name}" after ${ms} ms`));
      }, ms);
      waiting.set(id, (m) => {
        clearTimeout(timer);
        waiting.delete(id);
        if (m.error !== undefined) reject(new Error(`${options.name}: ${name}: ${m.error}`));
        else resolve(m.value);
      });
      child.send({ type: 'request', id, name });
    });

  rssLedger.idle(options.name, child.pid!);
  let stopped: Promise<void> | null = null;
  return {
    name: options.name,
    pid: child.pid!,
    ready,
    request,
    stop: () => {
      stopped ??= (async () => {
        rssLedger.after(child.pid!);
        // SIGTERM lets the server close cleanly (and write its --cpu-prof profile, if asked for).
        child.kill('SIGTERM');
        if (!(await waitForExit(child, 15_000))) {
          child.kill('SIGKILL');
          await once(child, 'exit');
        }
      })();
      return stopped;
    },
  };
}

/**
 * The bench's API server (bench/servers/api.ts) in production mode as a child process: `name`
 * tells replicas apart, `nodeArgs` carries a section's profiling flags, `env` adds variables.
 */
export function startBenchApi(rootDir: string, options: { name?: string; nodeArgs?: string[]; env?: Record<string, string> } = {}): Promise<ChildServer> {
  return startChildServer({
    name: options.name ?? 'api',
    script: 'bench/servers/api.ts',
    cwd: rootDir,
    env: { NODE_ENV: 'production', ...options.env },
    ...(options.nodeArgs ? { nodeArgs: options.nodeArgs } : {}),
  });
}

/** The V8 setting the image gives every service it runs, the mock provider included (infra/Dockerfile). */
export const PRODUCTION_V8_FLAG = '--max-semi-space-size=8';

/**
 * The mock provider's V8 settings: the image's (it runs the mock too), and its collector on its own
 * thread only. With V8's defaults the mock's young generation grows to tens of MB, and each of its
 * scavenges (12–18 ms seen under the gateway section's 50 ms load) held back every answer due
 * meanwhile and then let them all go at once: bursts that landed on whichever target was being
 * measured. With the image's 8 MB the pauses are short but many, and V8's parallel scavenger then
 * took the second core from the gateway under test (~12 % fewer gateway req/s at saturation in
 * alternating probes). A real provider shares no core with the gateway; this is the closest here.
 */
const MOCK_V8_FLAGS = [PRODUCTION_V8_FLAG, '--single-threaded-gc'];

/** The mock provider (bench/servers/mock.ts) as a child process, with MOCK_V8_FLAGS. */
export function startBenchMock(rootDir: string, options: { nodeArgs?: string[] } = {}): Promise<ChildServer> {
  return startChildServer({ name: 'mock', script: 'bench/servers/mock.ts', cwd: rootDir, env: { NODE_ENV: 'production' }, nodeArgs: [...MOCK_V8_FLAGS, ...(options.nodeArgs ?? [])] });
}

/** The floor of the gateway figures (bench/servers/bare-proxy.ts) in front of `upstream`, as a child process. */
export function startBareProxy(rootDir: string, upstream: string, options: { nodeArgs?: string[] } = {}): Promise<ChildServer> {
  return startChildServer({
    name: 'bare-proxy',
    script: 'bench/servers/bare-proxy.ts',
    cwd: rootDir,
    env: { NODE_ENV: 'production', BENCH_UPSTREAM: upstream },
    ...(options.nodeArgs ? { nodeArgs: options.nodeArgs } : {}),
  });
}

export type RequestHandlers = Record<string, () => Promise<unknown>>;

/** What a server script calls once it listens; also makes it exit when the bench goes away. */
export function reportReady(
  message: Omit<ReadyMessage, 'type'>,
  stop: () => Promise<void>,
  handlers: RequestHandlers = {},
): void {
  let stopping = false;
  const shutdown = () => {
    if (stopping) return;
    stopping = true;
    stop().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  // The bench process died or closed the channel: do not linger as an orphan.
  process.on('disconnect', shutdown);
  const send = process.send?.bind(process);
  if (!send) throw new Error('a bench server must be started by the bench (no IPC channel)');
  process.on('message', (raw: unknown) => {
    const m = raw as { type?: string; id?: number; name?: string } | null;
    if (!m || m.type !== 'request' || typeof m.id !== 'number' || typeof m.name !== 'string') return;
    const { id, name } = m;
    const handler = name === 'cpu' ? async () => process.cpuUsage() : handlers[name];
    const answer = handler ? handler() : Promise.reject(new Error(`no handler named "${name}"`));
    answer.then(
      (value) => send({ type: 'response', id, value }),
      (error: unknown) => send({ type: 'response', id, error: error instanceof Error ? error.message : String(error) }),
    );
  });
  send({ type: 'ready', ...message });
}

/**
 * BENCH_CPU_PROF=DIR: node arguments that write a V8 CPU profile of a server to DIR/<name> when it
 * stops (none when the variable is unset).
 */
export function profileArgs(name: string): string[] {
  const dir = process.env.BENCH_CPU_PROF;
  return dir ? ['--cpu-prof', `--cpu-prof-dir=${resolve(dir, name)}`] : [];
}
