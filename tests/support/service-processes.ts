/**
 * The system's processes for the fault campaign, each spawned on its own (`node --import tsx
 * src/main.ts` in its service folder, as `make up` runs them) so that one can be SIGKILLed,
 * restarted or paused by pid while the others keep running. `make up` itself is not used: it stops
 * every service when one dies, which is right for a developer and wrong for this test.
 */
import { join } from 'node:path';
import { ROOT } from './system.js';
import { freePort, type Spawned, spawnCommand } from './processes.js';
import { waitUntil } from './wait.js';

export type ServiceKind = 'mock-provider' | 'api' | 'metric-aggregator' | 'health-checker' | 'cache-invalidator' | 'budget-enforcer';

export const WORKERS = ['metric-aggregator', 'health-checker', 'cache-invalidator', 'budget-enforcer'] as const;
export type WorkerKind = (typeof WORKERS)[number];

/** The environment variable that sets each service's listening port. */
const PORT_VARIABLE: Record<ServiceKind, string> = {
  'mock-provider': 'MOCK_PROVIDER_PORT',
  api: 'PORT',
  'metric-aggregator': 'METRIC_AGGREGATOR_PORT',
  'health-checker': 'HEALTH_CHECKER_PORT',
  'cache-invalidator': 'CACHE_INVALIDATOR_PORT',
  'budget-enforcer': 'BUDGET_ENFORCER_PORT',
};

export class ServiceProcess {
  private spawned: Spawned | null = null;
  /** Exits we did not ask for (a crash is a finding, not noise). */
  readonly unexpectedExits: string[] = [];
  private expectingExit = false;
  /** Output of every incarnation, kept for failure messages. */
  private history = '';

  private constructor(
    readonly name: string,
    readonly kind: ServiceKind,
    readonly port: number,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  static async create(name: string, kind: ServiceKind, env: Record<string, string>, port?: number): Promise<ServiceProcess> {
    port ??= await freePort();
    return new ServiceProcess(name, kind, port, { ...process.env, ...env, [PORT_VARIABLE[kind]]: String(port) });
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** The URL that answers 200 once the process is ready (the mock provider has no /readyz). */
  get readyUrl(): string {
    return `${this.url}${this.kind === 'mock-provider' ? '/healthz' : '/readyz'}`;
  }

  pid(): number | null {
    const child = this.spawned?.child;
    return child && child.exitCode === null && child.signalCode === null ? child.pid! : null;
  }

  output(): string {
    return this.history + (this.spawned?.output() ?? '');
  }

  /** Spawns the process and waits until its ready URL answers 200; returns how long that took. */
  async start(timeoutMs = 90_000): Promise<number> {
    if (this.pid() !== null) throw new Error(`${this.name} is already running`);
    if (this.spawned) this.history += this.spawned.output();
    this.expectingExit = false;
    const spawned = spawnCommand(process.execPath, ['--conditions=development', '--import', 'tsx', 'src/main.ts'], { cwd: join(ROOT, 'services', this.kind), env: this.env });
    this.spawned = spawned;
    spawned.child.once('exit', (code, signal) => {
      if (!this.expectingExit) this.unexpectedExits.push(`${this.name} exited on its own (code ${code}, signal ${signal})`);
    });
    return waitUntil(
      async () => {
        if (spawned.child.exitCode !== null) throw new Error(`${this.name} exited (${spawned.child.exitCode}) while starting:\n${spawned.output().slice(-4000)}`);
        return this.isReady();
      },
      { timeoutMs, intervalMs: 100, what: `${this.name} ready`, detail: () => spawned.output().slice(-4000) },
    );
  }

  async isReady(): Promise<boolean> {
    try {
      const res = await fetch(this.readyUrl, { signal: AbortSignal.timeout(3000) });
      await res.arrayBuffer();
      return res.ok;
    } catch {
      return false;
    }
  }

  /** SIGKILL to this process's pid (no graceful stop: whatever it held in memory is gone). */
  async kill(): Promise<void> {
    const pid = this.pid();
    if (pid === null) throw new Error(`${this.name} is not running`);
    this.expectingExit = true;
    process.kill(pid, 'SIGKILL');
    // Reaps what else its process group held (none is expected) and waits for the exit.
    await this.spawned!.stop('SIGKILL', 5000);
  }

  pause(): void {
    const pid = this.pid();
    if (pid === null) throw new Error(`${this.name} is not running`);
    process.kill(pid, 'SIGSTOP');
  }

  resume(): void {
    const pid = this.pid();
    if (pid !== null) process.kill(pid, 'SIGCONT');
  }

  /** Graceful stop at the end (SIGCONT first, in case the test failed while it was paused). */
  async stop(): Promise<void> {
    if (!this.spawned) return;
    this.expectingExit = true;
    this.resume();
    await this.spawned.stop('SIGTERM', 10_000);
  }
}
