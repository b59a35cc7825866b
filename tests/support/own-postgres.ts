/**
 * A Postgres server of the test's own: initdb into a temp directory, started on a free loopback
 * port, stopped and restarted at will, removed at the end. Fault tests use it so that they can stop
 * Postgres without touching the machine's own server (127.0.0.1:5432).
 *
 * Postgres refuses to run as root, so when the test runs as root every Postgres process runs as the
 * `postgres` OS user (spawn's uid/gid: the same as `runuser -u postgres --`, but the child's pid is
 * the postmaster itself, so it can be signalled by pid and nothing else is touched).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort, startedOrDestroyed } from './processes.js';
import { waitUntil } from './wait.js';

const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';

/** How Postgres is stopped: `fast` = pg_ctl -m fast (SIGINT), `immediate` = a crash-like stop (SIGQUIT, recovery at the next start). */
export type PostgresStopMode = 'fast' | 'immediate';

export interface OwnPostgres {
  port: number;
  /** postgres://postgres@127.0.0.1:<port>/<database> */
  url(database: string): string;
  /** The postmaster's pid while it runs, else null. */
  pid(): number | null;
  start(): Promise<void>;
  stop(mode?: PostgresStopMode): Promise<void>;
  /** The server's log so far. */
  log(): string;
  /** Stops the server (if running) and removes its directory. Safe to call more than once. */
  destroy(): Promise<void>;
}

interface RunAs {
  uid?: number;
  gid?: number;
}

/** The `postgres` OS user when running as root (Postgres refuses root), else whoever we are. */
function runAs(): RunAs {
  if (process.getuid?.() !== 0) return {};
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
  return { uid, gid };
}

export async function startOwnPostgres(): Promise<OwnPostgres> {
  const user = runAs();
  const root = mkdtempSync(join(tmpdir(), 'mr-own-pg-'));
  if (user.uid !== undefined) chownSync(root, user.uid, user.gid!);
  const dataDir = join(root, 'data');
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C', LANG: 'C' };
  try {
    execFileSync(join(PG_BIN, 'initdb'), ['-D', dataDir, '-U', 'postgres', '--auth=trust', '--no-locale', '-E', 'UTF8', '--no-sync'], {
      ...user,
      env,
      stdio: 'pipe',
    });
  } catch (error) {
    rmSync(root, { recursive: true, force: true });
    throw error;
  }
  const port = await freePort();
  let child: ChildProcess | null = null;
  let output = '';
  let exited: Promise<void> = Promise.resolve();

  const url = (database: string) => `postgres://postgres@127.0.0.1:${port}/${database}`;
  const accepts = async (): Promise<boolean> => {
    const client = new pg.Client({ connectionString: url('postgres'), connectionTimeoutMillis: 1000 });
    try {
      await client.connect();
      await client.query('SELECT 1');
      return true;
    } catch {
      return false;
    } finally {
      await client.end().catch(() => undefined);
    }
  };

  const server: OwnPostgres = {
    port,
    url,
    pid: () => (child && child.exitCode === null && child.signalCode === null ? child.pid! : null),
    log: () => output,
    async start() {
      if (server.pid() !== null) throw new Error('own Postgres is already running');
      // The socket lives in our own directory, never in /var/run/postgresql next to the machine's.
      // Checkpoints every 30 s: a restart after an immediate stop replays only the WAL since the
      // last one, so recovery takes seconds even after minutes of load (the default is 5 minutes).
      const args = ['-D', dataDir, '-p', String(port), '-k', root, '-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200', '-c', 'fsync=on', '-c', 'checkpoint_timeout=30s'];
      const started = spawn(join(PG_BIN, 'postgres'), args, { ...user, env, stdio: ['ignore', 'pipe', 'pipe'] });
      child = started;
      started.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
      started.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
      exited = new Promise((resolve) => started.once('exit', () => resolve()));
      await waitUntil(
        async () => {
          if (started.exitCode !== null) throw new Error(`own Postgres exited (${started.exitCode}):\n${output}`);
          return accepts();
        },
        { timeoutMs: 60_000, intervalMs: 100, what: 'own Postgres accepting connections', detail: () => output.slice(-2000) },
      );
    },
    async stop(mode = 'fast') {
      const pid = server.pid();
      if (pid === null) return;
      process.kill(pid, mode === 'fast' ? 'SIGINT' : 'SIGQUIT');
      const timer = setTimeout(() => {
        // Still there after 20 s: end it (by pid, ours only).
        if (server.pid() === pid) process.kill(pid, 'SIGKILL');
      }, 20_000);
      await exited;
      clearTimeout(timer);
    },
    async destroy() {
      await server.stop('immediate').catch(() => undefined);
      rmSync(root, { recursive: true, force: true });
    },
  };
  return startedOrDestroyed(server);
}
