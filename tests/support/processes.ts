import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';

/** A port that was free a moment ago (the OS picks it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface Spawned {
  child: ChildProcess;
  /** Everything the process printed so far (stdout and stderr). */
  output(): string;
  /** Resolves when the output contains `text`; rejects if the process exits first or time runs out. */
  waitForOutput(text: string | RegExp, timeoutMs: number): Promise<void>;
  /**
   * Sends `signal` to the whole process group, waits until every process of the group is gone
   * (SIGKILL after `timeoutMs`), and resolves with the exit code of the command itself.
   */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
}

/** Starts `command` in its own process group so a stop reaches every process it started. */
export function spawnCommand(command: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv }): Spawned {
  const child = spawn(command, args, { ...options, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const listeners = new Set<() => void>();
  const onData = (chunk: Buffer): void => {
    output += chunk.toString();
    for (const listener of listeners) listener();
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  return {
    child,
    output: () => output,
    waitForOutput(text, timeoutMs) {
      return new Promise((resolve, reject) => {
        const matches = () => (typeof text === 'string' ? output.includes(text) : text.test(output));
        const done = (error?: Error) => {
          listeners.delete(check);
          clearTimeout(timer);
          if (error) reject(error);
          else resolve();
        };
        const check = () => {
          if (matches()) done();
        };
        const timer = setTimeout(() => done(new Error(`timed out waiting for ${String(text)}; output:\n${output}`)), timeoutMs);
        void exited.then((code) => {
          if (!matches()) done(new Error(`process exited (${code}) before printing ${String(text)}; output:\n${output}`));
        });
        listeners.add(check);
        check();
      });
    },
    async stop(signal = 'SIGTERM', timeoutMs = 20_000) {
      const group = -child.pid!;
      const alive = (): boolean => {
        // Once the command itself has exited, Linux hands its number out again only when no
        // process is left in its group. A process of that number then means the group is empty
        // and the number now names someone else's process, possibly someone else's group: never
        // signal it.
        if ((child.exitCode !== null || child.signalCode !== null) && existsSync(`/proc/${child.pid}`)) return false;
        try {
          process.kill(group, 0);
          return true;
        } catch {
          return false;
        }
      };
      if (alive()) process.kill(group, signal);
      const started = Date.now();
      while (alive()) {
        if (Date.now() - started > timeoutMs) process.kill(group, 'SIGKILL');
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      return exited;
    },
  };
}

/** Starts a server of the test's own; if it does not come up, destroys what it left and rethrows. */
export async function startedOrDestroyed<T extends { start(): Promise<unknown>; destroy(): Promise<void> }>(server: T): Promise<T> {
  try {
    await server.start();
  } catch (error) {
    await server.destroy();
    throw error;
  }
  return server;
}
