/**
 * Section "gateway": POST /v1/chat/completions through the Model Router gateway, beside calling the
 * mock provider directly and beside the Portkey gateway (npm `@portkey-ai/gateway`, installed in a
 * folder of its own outside the repository and started as its own process) against the same mock.
 * Every server runs in its own process; load comes from autocannon in a load-generator process.
 *
 * - throughput: the mock answers at once, 64 connections;
 * - added latency: the mock answers in 50 ms, at 1 and 64 connections (gateway minus direct); at 64
 *   connections in rounds (direct, bare proxy, gateway, Portkey back to back in each), the ratio to Portkey's
 *   being the median of the rounds' ratios: one round's p99 moves by several ms on a shared VM (five
 *   rounds by default; with three, one slow round in either target decided the figure); a round where
 *   the mock called directly was slower at p99 than a proxy in front of it is left out of the median
 *   (its negative ratio measured the machine and would pull the median toward passing);
 * - streaming: time to the first streamed byte, one request at a time (gateway minus direct);
 * - in every figure, a bare proxy (no routing, auth, translation or recording) beside the gateways:
 *   the floor of any Node proxy here;
 * - RSS of each gateway process, sampled during the runs.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { createServer } from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { DEVELOPMENT_ADMIN_API_KEY } from '@model-router/config';
import { judgeAddedP99 } from '../lib/added-p99.js';
import { type ChildServer, PRODUCTION_V8_FLAG, profileArgs, startBareProxy, startBenchApi, startBenchMock } from '../lib/child.js';
import { adminAuthorization, clientAuthorization } from '../lib/keys.js';
import { type LoadResult, startLoadGenerator } from '../lib/load.js';
import { processCpu } from '../lib/machine.js';
import { envNumber, fixed, int, median, round } from '../lib/stats.js';
import type { BenchContext, Section, SectionResult } from '../lib/types.js';

// The mock's control API needs its key: startMockProvider's default, the development key.
const CONTROL = { authorization: `Bearer ${DEVELOPMENT_ADMIN_API_KEY}` };

const PORTKEY_VERSION = '1.15.2';
const PORTKEY_DIR = join(os.tmpdir(), 'model-router-bench-portkey');
const PORTKEY_SCRIPT = join(PORTKEY_DIR, 'node_modules', '@portkey-ai', 'gateway', 'build', 'start-server.js');
export const MODEL_ID = 'bench-gateway';
export const PATH = '/v1/chat/completions';

/**
 * Every figure has the floor beside the gateways: a bare proxy (bench/servers/bare-proxy.ts) in
 * front of the same mock, the least any Node proxy adds on this machine.
 */
type Target = 'direct' | 'bare' | 'gateway' | 'portkey';
const TARGETS: Target[] = ['direct', 'bare', 'gateway', 'portkey'];
/** The targets that stand in front of the mock (their added latency is theirs minus the mock's). */
const PROXIES = TARGETS.filter((t) => t !== 'direct');
const LABEL: Record<Target, string> = {
  direct: 'mock directly',
  bare: 'bare undici proxy (floor)',
  gateway: 'Model Router gateway',
  portkey: `Portkey ${PORTKEY_VERSION}`,
};

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Installs the pinned Portkey gateway in its own folder (once) and starts it on a free port. */
async function startPortkey(ctx: BenchContext): Promise<{ url: string; pid: number; stop: () => Promise<void> }> {
  if (!existsSync(PORTKEY_SCRIPT)) {
    ctx.log(`gateway: installing @portkey-ai/gateway@${PORTKEY_VERSION} in ${PORTKEY_DIR}`);
    mkdirSync(PORTKEY_DIR, { recursive: true });
    if (!existsSync(join(PORTKEY_DIR, 'package.json'))) writeFileSync(join(PORTKEY_DIR, 'package.json'), '{"private":true}\n');
    execFileSync('npm', ['install', '--no-audit', '--no-fund', `@portkey-ai/gateway@${PORTKEY_VERSION}`], { cwd: PORTKEY_DIR, stdio: 'ignore' });
  }
  const port = await freePort();
  // Its CLI reads `--port=N` (a separate value is ignored); headless: no console UI.
  const child = spawn(process.execPath, [PORTKEY_SCRIPT, `--port=${port}`, '--headless'], { cwd: PORTKEY_DIR, stdio: ['ignore', 'ignore', 'inherit'] });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      await fetch(url);
      break;
    } catch {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error('the Portkey gateway did not start');
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  return {
    url,
    pid: child.pid!,
    stop: async () => {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    },
  };
}

/** Highest resident set size of `pid` seen while `fn` runs (sampled every 100 ms), in MiB. */
async function peakRss<T>(pids: Record<string, number>, fn: () => Promise<T>, into: Record<string, number>): Promise<T> {
  const sample = () => {
    for (const [name, pid] of Object.entries(pids)) {
      try {
        const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
        if (match) into[name] = Math.max(into[name] ?? 0, Number(match[1]) / 1024);
      } catch {
        // not on Linux, or the process is gone: no figure
      }
    }
  };
  const timer = setInterval(sample, 100);
  try {
    return await fn();
  } finally {
    clearInterval(timer);
    sample();
  }
}

/** CPU seconds (user + system) a process has used so far, from /proc (NaN where there is none). */
function cpuSeconds(pid: number): number {
  const cpu = processCpu(pid);
  return cpu ? cpu.user_s + cpu.system_s : Number.NaN;
}

export async function setMock(mockUrl: string, settings: Record<string, unknown>): Promise<void> {
  const res = await fetch(`${mockUrl}/_control/defaults`, { method: 'PUT', headers: { 'content-type': 'application/json', ...CONTROL }, body: JSON.stringify(settings) });
  if (res.status !== 200) throw new Error(`mock settings refused: ${res.status} ${await res.text()}`);
}

/** The bench model points at this run's mock (registered, or its endpoint moved). */
export async function registerModel(apiUrl: string, mockUrl: string): Promise<void> {
  const headers = { ...adminAuthorization(), 'content-type': 'application/json' };
  const model = {
    id: MODEL_ID,
    name: 'Gateway bench model',
    provider: 'bench',
    input_price_per_1k: 0.0001,
    output_price_per_1k: 0.0002,
    context_window: 128_000,
    max_output_tokens: 4_096,
    capabilities: ['chat', 'streaming'],
    endpoint: `${mockUrl}/v1`,
    api: 'openai',
  };
  const created = await fetch(`${apiUrl}/api/v1/models`, { method: 'POST', headers, body: JSON.stringify(model) });
  if (created.status === 201) return;
  const { id: _id, ...rest } = model;
  const replaced = await fetch(`${apiUrl}/api/v1/models/${MODEL_ID}`, { method: 'PUT', headers, body: JSON.stringify(rest) });
  if (replaced.status !== 200) throw new Error(`could not register the bench model: ${replaced.status} ${await replaced.text()}`);
}

interface StreamTimes {
  ttfb_ms: { p50: number; p99: number; mean: number };
  requests: number;
  failures: number;
}

/** One streamed request as its client saw it: when it was sent and its first body byte came (clock: timeOrigin + now). */
export interface StreamedRequest {
  status: number;
  sent: number;
  firstByte: number;
}

/**
 * `count` streamed requests, one at a time over one keep-alive connection, each waited for to its
 * end before the next is sent. A request that fails has status 0.
 */
export async function streamOneAtATime(url: string, body: string, headers: Record<string, string>, count: number): Promise<StreamedRequest[]> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const target = new URL(url);
  const now = () => performance.timeOrigin + performance.now();
  const requests: StreamedRequest[] = [];
  try {
    for (let i = 0; i < count; i++) {
      requests.push(
        await new Promise<StreamedRequest>((resolve) => {
          const request: StreamedRequest = { status: 0, sent: now(), firstByte: 0 };
          const req = http.request(
            { host: target.hostname, port: target.port, path: target.pathname, method: 'POST', agent, headers: { 'content-type': 'application/json', ...headers } },
            (res) => {
              request.status = res.statusCode ?? 0;
              res.on('data', () => {
                request.firstByte ||= now();
              });
              res.on('end', () => resolve(request));
              res.on('error', () => resolve(request));
            },
          );
          req.on('error', () => resolve({ ...request, status: 0 }));
          req.end(body);
        }),
      );
    }
  } finally {
    agent.destroy();
  }
  return requests;
}

/** Time to the first body byte of `count` streamed requests, one at a time over one keep-alive connection. */
async function streamTtfb(url: string, body: string, headers: Record<string, string>, count: number): Promise<StreamTimes> {
  const requests = await streamOneAtATime(url, body, headers, count);
  const times = requests.filter((r) => r.status === 200 && r.firstByte > 0).map((r) => r.firstByte - r.sent);
  const failures = requests.length - times.length;
  times.sort((a, b) => a - b);
  const at = (q: number) => (times.length ? times[Math.min(times.length - 1, Math.floor(q * times.length))]! : Number.NaN);
  return { ttfb_ms: { p50: at(0.5), p99: at(0.99), mean: times.reduce((a, b) => a + b, 0) / Math.max(1, times.length) }, requests: times.length, failures };
}

export const gatewaySection: Section = {
  name: 'gateway',
  title: 'POST /v1/chat/completions: the gateway vs the mock directly vs the Portkey gateway',
  usesDatabase: true,
  async run(ctx): Promise<SectionResult> {
    const durationSeconds = envNumber('BENCH_DURATION', 10);
    const warmupSeconds = envNumber('BENCH_WARMUP', 3);
    const connections = Math.round(envNumber('BENCH_CONNECTIONS', 64));
    const streams = Math.round(envNumber('BENCH_GATEWAY_STREAMS', 300));
    const latencyRounds = Math.max(1, Math.round(envNumber('BENCH_GATEWAY_ROUNDS', 5)));
    const servers: Array<{ stop: () => Promise<void> }> = [];
    try {
      ctx.log('gateway: starting the mock provider and the API (child processes)');
      const mock: ChildServer = await startBenchMock(ctx.rootDir);
      servers.push(mock);
      // The API as the image runs it (infra/Dockerfile: NODE_OPTIONS=--max-semi-space-size=8, see the
      // memory section); the mock with the same setting and a single-threaded collector (startBenchMock).
      const api: ChildServer = await startBenchApi(ctx.rootDir, { nodeArgs: [PRODUCTION_V8_FLAG, ...profileArgs('gateway-api')] });
      servers.push(api);
      const portkey = await startPortkey(ctx);
      servers.push(portkey);
      const mockUrl = mock.ready.url;
      const bare: ChildServer = await startBareProxy(ctx.rootDir, mockUrl);
      servers.push(bare);
      await registerModel(api.ready.url, mockUrl);

      const body = JSON.stringify({ model: MODEL_ID, messages: [{ role: 'user', content: 'Hello, how are you today?' }], max_tokens: 16 });
      const streamBody = JSON.stringify({ model: MODEL_ID, messages: [{ role: 'user', content: 'Hello, how are you today?' }], max_tokens: 16, stream: true });
      const urls: Record<Target, string> = {
        direct: `${mockUrl}${PATH}`,
        bare: `${bare.ready.url}${PATH}`,
        gateway: `${api.ready.url}${PATH}`,
        portkey: `${portkey.url}${PATH}`,
      };
      const headers: Record<Target, Record<string, string>> = {
        direct: {},
        bare: {},
        gateway: clientAuthorization(),
        portkey: { 'x-portkey-provider': 'openai', 'x-portkey-custom-host': `${mockUrl}/v1`, authorization: 'Bearer unused' },
      };
      for (const target of TARGETS) {
        const res = await fetch(urls[target], { method: 'POST', headers: { 'content-type': 'application/json', ...headers[target] }, body });
        if (res.status !== 200) throw new Error(`${target} answered ${res.status}: ${await res.text()}`);
        await res.arrayBuffer();
      }

      const rss: Record<string, number> = {};
      // CPU per answered request of the process serving each target (the mock's own for "direct").
      const servingPid: Record<Target, number> = { direct: mock.pid, bare: bare.pid, gateway: api.pid, portkey: portkey.pid };
      // RSS is sampled for the proxies only: the mock is not a gateway.
      const pids = Object.fromEntries(PROXIES.map((t) => [t, servingPid[t]]));
      const cpuPerRequest = {} as Record<Target, number>;
      const load = async (target: Target, conns: number, measureCpu = false): Promise<LoadResult> => {
        const generator = await startLoadGenerator();
        try {
          const base = { url: urls[target], body, connections: conns, headers: headers[target] };
          await generator.run({ ...base, durationSeconds: warmupSeconds });
          const before = cpuSeconds(servingPid[target]);
          const result = await peakRss(pids, () => generator.run({ ...base, durationSeconds }), rss);
          if (measureCpu) cpuPerRequest[target] = ((cpuSeconds(servingPid[target]) - before) * 1e6) / Math.max(1, result.requests_total);
          return result;
        } finally {
          await generator.stop();
        }
      };

      ctx.log('gateway: throughput, the mock answering at once');
      await setMock(mockUrl, { latency_ms: 0, tokens_per_second: 0 });
      const throughput = {} as Record<Target, LoadResult>;
      for (const target of TARGETS) {
        ctx.log(`gateway: throughput, ${target}, ${connections} connections`);
        throughput[target] = await load(target, connections, true);
      }

      ctx.log('gateway: added latency, the mock answering in 50 ms');
      await setMock(mockUrl, { latency_ms: 50 });
      // rounds[0] is 1 connection; then `latencyRounds` rounds at `connections`.
      const rounds: Array<{ conns: number; byTarget: Record<Target, LoadResult> }> = [];
      for (const conns of [1, ...Array.from({ length: latencyRounds }, () => connections)]) {
        const byTarget = {} as Record<Target, LoadResult>;
        for (const target of TARGETS) {
          ctx.log(`gateway: latency, ${target}, ${conns} connection(s)${conns === 1 ? '' : `, round ${rounds.length} of ${latencyRounds}`}`);
          byTarget[target] = await load(target, conns);
        }
        rounds.push({ conns, byTarget });
      }

      ctx.log(`gateway: streaming, time to first byte over ${streams} requests each`);
      await setMock(mockUrl, { latency_ms: 20, tokens_per_second: 0 });
      const ttfb = {} as Record<Target, StreamTimes>;
      for (const target of TARGETS) {
        await streamTtfb(urls[target], streamBody, headers[target], Math.min(30, streams)); // warm-up
        ttfb[target] = await streamTtfb(urls[target], streamBody, headers[target], streams);
      }

      const rps = (t: Target) => throughput[t].requests_per_second;
      const added = (round: Record<Target, LoadResult>, t: Target, q: 'p50' | 'p99') => round[t].latency_ms[q] - round.direct.latency_ms[q];
      const addedTtfb = (t: Target, q: 'p50' | 'p99') => ttfb[t].ttfb_ms[q] - ttfb.direct.ttfb_ms[q];
      const ratio = rps('gateway') / rps('portkey');
      // Judged on the rounds at `connections`, leaving out those that measured the machine (bench/lib/added-p99.ts).
      const verdict = judgeAddedP99(
        rounds.filter((r) => r.conns === connections).map(({ byTarget }) => ({
          direct: byTarget.direct.latency_ms.p99,
          bare: byTarget.bare.latency_ms.p99,
          gateway: byTarget.gateway.latency_ms.p99,
          portkey: byTarget.portkey.latency_ms.p99,
        })),
        0.2,
      );
      const { roundRatios, floorRatios, disturbed, ratio: p99Ratio, medianAdded } = verdict;
      const bad = (r: LoadResult) => r.non2xx + r.errors + r.timeouts;
      const ownBad = [throughput.direct, throughput.gateway, ...rounds.flatMap((r) => [r.byTarget.direct, r.byTarget.gateway])].reduce((n, r) => n + bad(r), 0);

      return {
        tables: [
          {
            title: `Throughput: the mock answering at once, ${connections} connections, ${durationSeconds} s each (after ${warmupSeconds} s warm-up)`,
            columns: ['target', 'req/s', 'p50 ms', 'p99 ms', 'CPU µs/req (serving process)', 'non-2xx', 'errors', 'peak RSS MiB'],
            rows: TARGETS.map((t) => [
              LABEL[t],
              int(rps(t)),
              fixed(throughput[t].latency_ms.p50),
              fixed(throughput[t].latency_ms.p99),
              int(cpuPerRequest[t] ?? Number.NaN),
              String(throughput[t].non2xx),
              String(throughput[t].errors + throughput[t].timeouts),
              t === 'direct' ? '—' : fixed(rss[t] ?? Number.NaN, 0),
            ]),
          },
          {
            title: `Added latency: the mock answering in 50 ms (gateway minus the mock called directly in the same round; ${latencyRounds} round(s) at ${connections} connections)`,
            columns: ['connections', 'round', 'target', 'req/s', 'p50 ms', 'p99 ms', 'added p50 ms', 'added p99 ms', "added p99 ÷ Portkey's"],
            rows: rounds.flatMap(({ conns, byTarget }, index) =>
              TARGETS.map((t) => [
                String(conns),
                conns === 1 ? '—' : String(index),
                LABEL[t],
                int(byTarget[t].requests_per_second),
                fixed(byTarget[t].latency_ms.p50),
                fixed(byTarget[t].latency_ms.p99),
                t === 'direct' ? '—' : fixed(added(byTarget, t, 'p50')),
                t === 'direct' ? '—' : fixed(added(byTarget, t, 'p99')),
                t === 'bare' || t === 'gateway' ? fixed(added(byTarget, t, 'p99') / added(byTarget, 'portkey', 'p99'), 2) : '—',
              ]),
            ),
          },
          {
            title: `Streaming: time to the first streamed byte, ${streams} requests one at a time (mock: first piece after 20 ms)`,
            columns: ['target', 'p50 ms', 'p99 ms', 'added p50 ms', 'added p99 ms', 'failures'],
            rows: TARGETS.map((t) => [
              LABEL[t],
              fixed(ttfb[t].ttfb_ms.p50),
              fixed(ttfb[t].ttfb_ms.p99),
              t === 'direct' ? '—' : fixed(addedTtfb(t, 'p50')),
              t === 'direct' ? '—' : fixed(addedTtfb(t, 'p99')),
              String(ttfb[t].failures),
            ]),
          },
        ],
        targets: [
          { name: 'gateway req/s vs Portkey (mock answering at once)', target: '≥ 3×', actual: `${fixed(ratio, 2)}×`, pass: ratio >= 3 },
          {
            name: `gateway added p99 vs Portkey's at ${connections} connections (50 ms upstream), median of ${latencyRounds} round(s)`,
            target: '≤ 1/5',
            actual:
              `${fixed(p99Ratio, 2)} (rounds: ${roundRatios.map((r) => fixed(r, 2)).join(', ')}; median added p99 ${fixed(medianAdded.gateway)} ms vs ${fixed(medianAdded.portkey)} ms; ` +
              `the floor's median ${fixed(median(floorRatios), 2)}${disturbed.length ? `; round(s) ${disturbed.join(', ')} left out: the mock directly was as slow as a proxy or slower` : ''})`,
            pass: verdict.pass,
          },
          { name: 'streaming: added time to first byte, p50', target: '≤ 1 ms', actual: `${fixed(addedTtfb('gateway', 'p50'))} ms`, pass: addedTtfb('gateway', 'p50') <= 1 },
          { name: 'non-2xx and errors (mock directly + gateway)', target: '0', actual: String(ownBad), pass: ownBad === 0 },
        ],
        notes: [
          `Request: ${body} (the mock answers a 16-token completion); streamed: the same with "stream": true.`,
          `Portkey: npm @portkey-ai/gateway@${PORTKEY_VERSION} in ${PORTKEY_DIR}, its own Node process, forwarding with x-portkey-provider: openai and x-portkey-custom-host to the same mock.`,
          'The gateway routes, calls the mock through undici (keep-alive pool), and records each call (metric.recorded + cost.recorded on BullMQ, circuit outcome); no worker consumes the queues during the bench (the events are deleted afterwards).',
          'CPU µs/req: CPU time (user + system, from /proc) of the process serving the target during the measured run, per answered request — the mock\'s own for "mock directly" (a gateway adds its own on top of it); it moves less than req/s when other work shares the cores.',
          'The floor, in every table: a bare proxy (node:http server, undici dispatch, the answer written back as it comes: no parsing, routing, auth, translation or recording) adds the cost of a second process and two loopback hops on this machine; what the gateway adds beyond it is its own work.',
          'Everything shares the same 2 cores: the mock, the gateway, Redis, and the load generator; the mock directly is the ceiling of any gateway here.',
        ],
        data: {
          connections,
          duration_s: durationSeconds,
          warmup_s: warmupSeconds,
          throughput: Object.fromEntries(TARGETS.map((t) => [t, { rps: round(rps(t), 1), latency_ms: throughput[t].latency_ms, non2xx: throughput[t].non2xx, errors: throughput[t].errors }])),
          latency_50ms_upstream: rounds.map(({ conns, byTarget }) => ({
            connections: conns,
            ...Object.fromEntries(TARGETS.map((t) => [t, { rps: round(byTarget[t].requests_per_second, 1), latency_ms: byTarget[t].latency_ms }])),
          })),
          gateway_vs_portkey_added_p99_rounds: roundRatios.map((r) => round(r, 3)),
          disturbed_rounds: disturbed,
          floor_vs_portkey_added_p99_rounds: floorRatios.map((r) => round(r, 3)),
          streaming_ttfb: ttfb,
          cpu_us_per_request: Object.fromEntries(Object.entries(cpuPerRequest).map(([k, v]) => [k, round(v, 1)])),
          peak_rss_mib: Object.fromEntries(Object.entries(rss).map(([k, v]) => [k, round(v, 1)])),
          gateway_vs_portkey_rps: round(ratio, 3),
          gateway_vs_portkey_added_p99: round(p99Ratio, 3),
        },
      };
    } finally {
      for (const server of servers.reverse()) await server.stop().catch((error: unknown) => ctx.log(`gateway: stop failed: ${String(error)}`));
    }
  },
};
