/**
 * Two ways of calling one server, measured alternately in rounds (A B, then B A, …) so that drift
 * in the machine's load falls on both alike; each run is warmed up, then measured, with the
 * server process's own CPU time per request (process.cpuUsage() in the child before and after).
 * Used by the sections that compare a path with its cheaper twin (abtest-route, keyed-route).
 */
import type { ChildServer } from './child.js';
import { type LoadOptions, type LoadResult, startLoadGenerator } from './load.js';
import { fixed, int, median } from './stats.js';
import type { BenchContext } from './types.js';

export interface AlternatingOptions<T extends string> {
  ctx: BenchContext;
  /** The section's name, for the progress log. */
  section: string;
  /** The server whose CPU is read (it answers the 'cpu' request). */
  server: ChildServer;
  targets: readonly [T, T];
  rounds: number;
  warmupSeconds: number;
  durationSeconds: number;
  connections: number;
  /** The load of one target (without its duration). */
  load: (target: T) => Omit<LoadOptions, 'durationSeconds'>;
}

/** One measured run. */
export interface Measured<T extends string> {
  round: number;
  target: T;
  result: LoadResult;
}

/** Every measured run, in the order run. */
export async function measureAlternating<T extends string>(o: AlternatingOptions<T>): Promise<Measured<T>[]> {
  const runs: Measured<T>[] = [];
  for (let r = 1; r <= o.rounds; r++) {
    const order = r % 2 === 1 ? o.targets : ([o.targets[1], o.targets[0]] as const);
    for (const target of order) {
      const load = o.load(target);
      const generator = await startLoadGenerator();
      o.ctx.log(`${o.section}: round ${r}/${o.rounds}, ${target}: warm-up ${o.warmupSeconds} s`);
      await generator.run({ ...load, durationSeconds: o.warmupSeconds });
      o.ctx.log(`${o.section}: round ${r}/${o.rounds}, ${target}: measuring ${o.durationSeconds} s at ${o.connections} connections`);
      const cpuBefore = (await o.server.request('cpu')) as NodeJS.CpuUsage;
      const result = await generator.run({ ...load, durationSeconds: o.durationSeconds });
      const cpuAfter = (await o.server.request('cpu')) as NodeJS.CpuUsage;
      await generator.stop();
      result.server_cpu_us_per_request = (cpuAfter.user - cpuBefore.user + cpuAfter.system - cpuBefore.system) / Math.max(1, result.requests_total);
      runs.push({ round: r, target, result });
    }
  }
  return runs;
}

/** The results of one target's runs. */
export function resultsOf<T extends string>(measured: readonly Measured<T>[], target: T): LoadResult[] {
  return measured.filter((m) => m.target === target).map((m) => m.result);
}

/** The medians a comparison reports of one target's runs. */
export function medians(runs: readonly LoadResult[]): { rps: number; p99: number; cpu: number; bad: number } {
  return {
    rps: median(runs.map((x) => x.requests_per_second)),
    p99: median(runs.map((x) => x.latency_ms.p99)),
    cpu: median(runs.map((x) => x.server_cpu_us_per_request ?? Number.NaN)),
    bad: runs.reduce((n, x) => n + x.non2xx + x.errors + x.timeouts, 0),
  };
}

/** The columns of `runRows` after the first, which names the target and round. */
export const RUN_COLUMNS = ['req/s', 'requests', 'p50 ms', 'p99 ms', 'max ms', 'API CPU µs/req', 'non-2xx', 'errors'];

/** One row per run, by round, `first` before the other target in each round. */
export function runRows<T extends string>(measured: readonly Measured<T>[], first: T, label: (target: T) => string): string[][] {
  return [...measured]
    .sort((a, b) => a.round - b.round || (a.target === first ? -1 : 1))
    .map((m) => [
      `${label(m.target)} (${m.round})`,
      int(m.result.requests_per_second),
      int(m.result.requests_total),
      fixed(m.result.latency_ms.p50),
      fixed(m.result.latency_ms.p99),
      fixed(m.result.latency_ms.max, 1),
      fixed(m.result.server_cpu_us_per_request ?? Number.NaN, 1),
      String(m.result.non2xx),
      String(m.result.errors + m.result.timeouts),
    ]);
}
