/**
 * A redis-server of the test's own, on a free loopback port with its own data directory, so a
 * test can SIGKILL and restart it (same directory, so the AOF is replayed) without touching the
 * machine's Redis on 6379. Persistence as the README asks of a deployment: AOF on,
 * `maxmemory-policy noeviction`; `appendfsync` is `always` by default here because the fault tests
 * assert that not one acknowledged write is lost across a SIGKILL (with `everysec` up to ~1 s of
 * acknowledged writes may be).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort, startedOrDestroyed } from './processes.js';
import { waitUntil } from './wait.js';

export interface OwnRedisOptions {
  appendfsync?: 'always' | 'everysec' | 'no';
  /** Further redis-server options, after the defaults above (a repeated option takes the last value). */
  extraArgs?: string[];
}

export interface OwnRedis {
  port: number;
  url: string;
  dir: string;
  /** The server's pid while it runs, else null. */
  pid(): number | null;
  start(): Promise<void>;
  /** SIGKILL: no shutdown, no final fsync; what the AOF holds is what comes back. */
  kill(): Promise<void>;
  log(): string;
  /** Kills the server (if running) and removes its directory. Safe to call more than once. */
  destroy(): Promise<void>;
}

export async function startOwnRedis(options: OwnRedisOptions = {}): Promise<OwnRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'mr-own-redis-'));
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  let child: ChildProcess | null = null;
  let output = '';
  let exited: Promise<void> = Promise.resolve();
  const args = [
    '--port', String(port),
    '--bind', '127.0.0.1',
    '--dir', dir,
    '--daemonize', 'no',
    '--save', '',
    '--appendonly', 'yes',
    '--appendfsync', options.appendfsync ?? 'always',
    '--maxmemory-policy', 'noeviction',
    '--protected-mode', 'yes',
    ...(options.extraArgs ?? []),
  ];

  const running = () => child !== null && child.exitCode === null && child.signalCode === null;
  const server: OwnRedis = {
    port,
    url,
    dir,
    pid: () => (running() ? child!.pid! : null),
    log: () => output,
    async start() {
      if (running()) throw new Error('own Redis is already running');
      const started = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
      child = started;
      started.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
      started.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
      exited = new Promise((resolve) => started.once('exit', () => resolve()));
      const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      probe.on('error', () => undefined); // refused connections while it starts are expected
      try {
        await waitUntil(
          async () => {
            if (started.exitCode !== null) throw new Error(`own Redis exited (${started.exitCode}):\n${output}`);
            try {
              if (probe.status !== 'ready') await probe.connect();
              // PING answers while the AOF is still loading (LOADING error on data commands): wait for data.
              await probe.get('own-redis:probe');
              return true;
            } catch {
              probe.disconnect();
              return false;
            }
          },
          { timeoutMs: 30_000, intervalMs: 50, what: 'own Redis ready', detail: () => output.slice(-2000) },
        );
      } finally {
        probe.disconnect();
      }
    },
    async kill() {
      const pid = server.pid();
      if (pid === null) return;
      process.kill(pid, 'SIGKILL');
      await exited;
    },
    async destroy() {
      await server.kill().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return startedOrDestroyed(server);
}
