/**
 * A quick look at the gateway's cost per request, for work on its hot path (not a bench section):
 *
 *   pnpm exec tsx bench/gateway-probe.ts [seconds=8] [connections=64] [stream=0]
 *
 * Starts the mock and the bench API as the `gateway` section does (`pnpm build` first: the API runs
 * the compiled packages), sends load through the gateway with autocannon in its own process, and
 * prints req/s, latency, the API's CPU per request split into user and system time (/proc), and
 * how the two cores were shared (API, mock, the rest). Comparing two checkouts: run it in each, in
 * turn, a few times (one run's figures move by 10–20 % on a shared VM).
 *
 * - PROBE_LATENCY_MS=50: the mock answers after that long (the section's added-latency figure),
 *   and the mock is first loaded directly at the same connections, for the added p99;
 * - PROBE_JITTER_MS=5: the mock adds a delay drawn from [0, 5) ms to each answer, so answers due
 *   in the same millisecond do not all come at once (the bench section has none);
 * - PROBE_NODE_ARGS: the API's Node flags (default: the image's `--max-semi-space-size=8`; the floor's:
 *   none, as in the bench section);
 * - the API's garbage collection during the run (pauses by kind, from its /metrics) and its heap
 *   after it, since pauses set much of the p99;
 * - PROBE_TARGET=bare: the floor (bench/servers/bare-proxy.ts, a proxy that does no work) in place of
 *   the API, for its CPU per request under the same load (no GC figures: it has no /metrics);
 * - BENCH_CPU_PROF=DIR: CPU profiles of the API (or the floor) and the mock (DIR/gateway-probe-api,
 *   -bare, -mock).
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PRODUCTION_V8_FLAG, profileArgs, startBareProxy, startBenchApi, startBenchMock } from './lib/child.js';
import { prepareBenchDatabase } from './lib/database.js';
import { clientAuthorization } from './lib/keys.js';
import { startLoadGenerator } from './lib/load.js';
import { machineCpu, processCpu } from './lib/machine.js';
import { BENCH_DATABASE_URL } from './lib/services.js';
import { MODEL_ID, PATH, registerModel, setMock } from './sections/gateway.js';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const seconds = Number(process.argv[2] ?? 8);
const connections = Number(process.argv[3] ?? 64);
const stream = process.argv[4] === '1';
const bare = process.env.PROBE_TARGET === 'bare';
/** How the serving process is named in the output. */
const served = bare ? 'floor' : 'API';

/** User and system CPU seconds of `pid` so far. */
function cpu(pid: number): { user: number; system: number } {
  const used = processCpu(pid)!;
  return { user: used.user_s, system: used.system_s };
}

/** The API's GC pause counters (`kind` → [count, seconds]) and heap figures, from its /metrics. */
async function apiMemory(apiUrl: string): Promise<{ gc: Map<string, [number, number]>; heapMiB: Map<string, number> }> {
  const text = await (await fetch(`${apiUrl}/metrics`)).text();
  const gc = new Map<string, [number, number]>();
  const heapMiB = new Map<string, number>();
  for (const line of text.split('\n')) {
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    const kind = /gc_duration_seconds_(count|sum)\{.*kind="(\w+)"/.exec(line);
    if (kind) {
      const entry = gc.get(kind[2]!) ?? [0, 0];
      entry[kind[1] === 'count' ? 0 : 1] = value;
      gc.set(kind[2]!, entry);
    }
    if (line.startsWith('model_router_nodejs_heap_size_used_bytes')) heapMiB.set('used', value / 2 ** 20);
    const space = /heap_space_size_used_bytes\{space="(old|large_object)"/.exec(line);
    if (space) heapMiB.set(space[1]!, value / 2 ** 20);
  }
  return { gc, heapMiB };
}

/** CPU seconds every core has spent busy so far. */
const machineBusy = (): number => machineCpu()!.busy_s;

await prepareBenchDatabase(BENCH_DATABASE_URL, console.log);
const mock = await startBenchMock(ROOT, { nodeArgs: profileArgs('gateway-probe-mock') });
// The floor runs with V8's defaults unless PROBE_NODE_ARGS says otherwise, as in the bench section.
const nodeArgs = (process.env.PROBE_NODE_ARGS ?? (bare ? '' : PRODUCTION_V8_FLAG)).split(' ').filter(Boolean);
const api = bare
  ? await startBareProxy(ROOT, mock.ready.url, { nodeArgs: [...nodeArgs, ...profileArgs('gateway-probe-bare')] })
  : await startBenchApi(ROOT, { nodeArgs: [...nodeArgs, ...profileArgs('gateway-probe-api')] });
try {
  if (!bare) await registerModel(api.ready.url, mock.ready.url);
  const latency = Number(process.env.PROBE_LATENCY_MS ?? 0);
  await setMock(mock.ready.url, { latency_ms: latency, tokens_per_second: 0, jitter_ms: Number(process.env.PROBE_JITTER_MS ?? 0) });
  const body = JSON.stringify({ model: MODEL_ID, messages: [{ role: 'user', content: 'Hello, how are you today?' }], max_tokens: 16, ...(stream ? { stream: true } : {}) });
  const generator = await startLoadGenerator();
  if (latency > 0) {
    // The mock called directly, for the added latency.
    const direct = { url: `${mock.ready.url}${PATH}`, body, connections };
    await generator.run({ ...direct, durationSeconds: 2 });
    const d = await generator.run({ ...direct, durationSeconds: seconds });
    console.log(`direct: req/s ${d.requests_per_second.toFixed(0)} p50 ${d.latency_ms.p50.toFixed(2)} p99 ${d.latency_ms.p99.toFixed(2)}`);
  }
  const base = { url: `${api.ready.url}${PATH}`, body, connections, headers: clientAuthorization() };
  await generator.run({ ...base, durationSeconds: 3 });
  const memoryBefore = bare ? null : await apiMemory(api.ready.url);
  const machineBefore = machineBusy();
  const before = cpu(api.pid);
  const mockBefore = cpu(mock.pid);
  const result = await generator.run({ ...base, durationSeconds: seconds });
  const after = cpu(api.pid);
  const machineAfter = machineBusy();
  const mockAfter = cpu(mock.pid);
  await generator.stop();
  if (memoryBefore) {
    const memoryAfter = await apiMemory(api.ready.url);
    const pauses = [...memoryAfter.gc].map(([kind, [count, seconds]]) => {
      const [count0, seconds0] = memoryBefore.gc.get(kind) ?? [0, 0];
      return `${kind} ${count - count0} (${((seconds - seconds0) * 1000).toFixed(1)} ms)`;
    });
    console.log(`API GC pauses during the run: ${pauses.join(', ')}; heap after, MiB: ${[...memoryAfter.heapMiB].map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ')}`);
  }
  console.log(`latency ms: p90 ${result.latency_ms.p90.toFixed(2)} p99.9 ${result.latency_ms.p999.toFixed(2)} max ${result.latency_ms.max.toFixed(2)}`);
  const per = (s: number) => ((s * 1e6) / result.requests_total).toFixed(0);
  const cores = (s: number) => (s / seconds).toFixed(2);
  const apiS = after.user + after.system - before.user - before.system;
  const mockS = mockAfter.user + mockAfter.system - mockBefore.user - mockBefore.system;
  console.log(
    `cores of 2: machine ${cores(machineAfter - machineBefore)}, ${served} ${cores(apiS)}, mock ${cores(mockS)}, the rest (load generator, Redis, softirq) ${cores(machineAfter - machineBefore - apiS - mockS)}`,
  );
  console.log(
    `req/s ${result.requests_per_second.toFixed(0)}  p50 ${result.latency_ms.p50.toFixed(2)} ms  p99 ${result.latency_ms.p99.toFixed(2)} ms  non2xx ${result.non2xx}  ` +
      `${served} CPU µs/req: user ${per(after.user - before.user)} system ${per(after.system - before.system)}  mock µs/req ${per(mockS)}`,
  );
} finally {
  await api.stop();
  await mock.stop();
}
