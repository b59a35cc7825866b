/**
 * Where the gateway's added p99 comes from (not a bench section): are the slowest 1 % of calls
 * spread over every burst, or gathered in a few?
 *
 *   pnpm exec tsx bench/tail-probe.ts [seconds=10] [connections=64]
 *
 * Starts the mock (answering in 50 ms) and the bench API as the `gateway` section does (`pnpm build`
 * first), then loads the mock directly and the gateway in turn from this process with an undici
 * Pool, one loop per connection, keeping each call's start time and latency. For each it prints
 * p50/p99 and how the calls slower than the p99 fall over 50 ms windows of their start time. This
 * process is the load generator, so its own pauses are in both figures (its p99 is higher than
 * autocannon's): compare the two, and the windows, not the absolute figures.
 *
 * - PROBE_NODE_ARGS: the API's Node flags (default: the image's `--max-semi-space-size=8`); with
 *   `--trace-gc` the API prints its collections, timed in ms since it started, and each run's first
 *   window is printed on that clock ("start at API ms"), to match slow windows with collections.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { PRODUCTION_V8_FLAG, startBenchApi, startBenchMock } from './lib/child.js';
import { prepareBenchDatabase } from './lib/database.js';
import { clientAuthorization } from './lib/keys.js';
import { BENCH_DATABASE_URL } from './lib/services.js';
import { percentile } from './lib/stats.js';
import { MODEL_ID, PATH, registerModel, setMock } from './sections/gateway.js';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const seconds = Number(process.argv[2] ?? 10);
const connections = Number(process.argv[3] ?? 64);
const body = JSON.stringify({ model: MODEL_ID, messages: [{ role: 'user', content: 'Hello, how are you today?' }], max_tokens: 16 });

/** `warmupS` seconds of load, then `durationS` measured on the same connections (none is opened in the measured part). */
async function load(url: string, headers: Record<string, string>, warmupS: number, durationS: number): Promise<Array<[number, number]>> {
  const origin = new URL(url).origin;
  const pool = new Pool(origin, { connections, pipelining: 1 });
  const calls: Array<[number, number]> = [];
  const measureFrom = performance.now() + warmupS * 1000;
  const end = measureFrom + durationS * 1000;
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (performance.now() < end) {
        const start = performance.now();
        const res = await pool.request({ path: PATH, method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
        await res.body.text();
        if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}`);
        if (start >= measureFrom) calls.push([start, performance.now() - start]);
      }
    }),
  );
  await pool.close();
  return calls;
}

/** Milliseconds since the API process started (its --trace-gc clock, to within a few tens of ms), at performance.now() `t`. */
let apiStartMs = 0;
const apiMs = (t: number): number => Number(process.hrtime.bigint() / 1_000_000n) - (performance.now() - t) - apiStartMs;

function report(name: string, calls: Array<[number, number]>): void {
  const sorted = calls.map((c) => c[1]).sort((a, b) => a - b);
  const q = (p: number) => percentile(sorted, p);
  const p99 = q(0.99);
  const t0 = calls.reduce((min, [start]) => Math.min(min, start), Infinity);
  const windows = new Map<number, { slow: number; max: number; n: number }>();
  for (const [start, ms] of calls) {
    const w = Math.floor((start - t0) / 50);
    const entry = windows.get(w) ?? { slow: 0, max: 0, n: 0 };
    entry.n++;
    entry.max = Math.max(entry.max, ms);
    if (ms >= p99) entry.slow++;
    windows.set(w, entry);
  }
  const slowWindows = [...windows].filter(([, e]) => e.slow > 0).sort((a, b) => b[1].slow - a[1].slow);
  const maxima = [...windows.values()].map((e) => e.max).sort((a, b) => a - b);
  const mq = (p: number) => percentile(maxima, p).toFixed(1);
  console.log(
    `${name}: ${calls.length} calls, p50 ${q(0.5).toFixed(2)} p99 ${p99.toFixed(2)} max ${sorted.at(-1)!.toFixed(2)} ms; ` +
      `(start at API ms ${apiMs(t0).toFixed(0)}) calls ≥ p99 in ${slowWindows.length} of ${windows.size} 50 ms windows; the window's slowest call p50 ${mq(0.5)} p90 ${mq(0.9)} p99 ${mq(0.99)} ms`,
  );
  console.log(`  busiest windows (at s: calls ≥ p99 / calls, slowest ms): ${slowWindows.slice(0, 12).map(([w, e]) => `${(w * 0.05).toFixed(2)}: ${e.slow}/${e.n}, ${e.max.toFixed(1)}`).join('; ')}`);
}

await prepareBenchDatabase(BENCH_DATABASE_URL, console.log);
const mock = await startBenchMock(ROOT, {});
const api = await startBenchApi(ROOT, { nodeArgs: (process.env.PROBE_NODE_ARGS ?? PRODUCTION_V8_FLAG).split(' ').filter(Boolean) });
// The API's start on the monotonic clock: clock ticks since boot when it started (field 22 of
// /proc/PID/stat; 100 per second on Linux), as the monotonic clock counts from boot on this VM.
apiStartMs = Number(readFileSync(`/proc/${api.pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[19]) * 10;
try {
  await registerModel(api.ready.url, mock.ready.url);
  await setMock(mock.ready.url, { latency_ms: 50, tokens_per_second: 0 });
  for (const round of [1, 2]) {
    report(`round ${round} direct`, await load(mock.ready.url, {}, 2, seconds));
    report(`round ${round} gateway`, await load(api.ready.url, clientAuthorization(), 2, seconds));
  }
} finally {
  await api.stop();
  await mock.stop();
}
