/**
 * Section "http-route": POST /api/v1/route of the real API over HTTP, beside a bare Express app
 * answering the same JSON, each in its own child process on loopback, loaded one after the other
 * by autocannon in a load-generator process of its own (bench/lib/load-child.ts).
 */
import { type ChildServer, profileArgs, startBenchApi, startChildServer } from '../lib/child.js';
import { clientAuthorization } from '../lib/keys.js';
import { CpuWindow } from '../lib/machine.js';
import { type LoadResult, startLoadGenerator } from '../lib/load.js';
import { envNumber, fixed, int, median, percent, round } from '../lib/stats.js';
import type { BenchContext, Section, SectionResult } from '../lib/types.js';

/** The seed's example request. */
export const SEED_ROUTE_BODY = {
  prompt: '用户的问题',
  max_tokens: 1000,
  strategy: 'cheapest',
  user_id: 'user123',
  enable_ab_test: true,
};

const TARGET_RATIO = 0.6;
const TARGET_P99_MS = 10;
const ROUTE_PATH = '/api/v1/route';

type Target = 'route' | 'bare';

interface Measured {
  round: number;
  target: Target;
  result: LoadResult;
}

async function post(url: string, body: string): Promise<{ status: number; text: string }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...clientAuthorization() }, body });
  return { status: res.status, text: await res.text() };
}

/** Sums every sample of a Prometheus counter in a /metrics text. */
function counterSum(metricsText: string, name: string): number {
  let sum = 0;
  for (const line of metricsText.split('\n')) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

interface QueuedEvents {
  jobs: number;
  events: number;
}

interface EventCheck {
  route_decisions: number;
  events_lost: number;
  queued_jobs: number;
  queued_events: number;
}

/**
 * Every answered route request must have put its route event in the queue: compares the API's
 * decision counter with the events that arrived in Redis since the API started (`before`: what an
 * earlier, interrupted run may have left), waiting a little for the last group commit.
 */
async function checkRouteEvents(api: ChildServer, before: QueuedEvents): Promise<EventCheck> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const text = await (await fetch(`${api.ready.url}/metrics`)).text();
    const routeDecisions = counterSum(text, 'model_router_route_decisions_total');
    const eventsLost = counterSum(text, 'model_router_events_lost_total');
    const queued = (await api.request('route-events')) as QueuedEvents;
    const check = {
      route_decisions: routeDecisions,
      events_lost: eventsLost,
      queued_jobs: queued.jobs - before.jobs,
      queued_events: queued.events - before.events,
    };
    if (check.queued_events + eventsLost >= routeDecisions || Date.now() > deadline) return check;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}


async function withServers<T>(
  ctx: BenchContext,
  fn: (api: ChildServer, bare: ChildServer, body: string, eventsBefore: QueuedEvents) => Promise<T>,
): Promise<T> {
  const servers: ChildServer[] = [];
  try {
    ctx.log('http-route: starting the API (child process)');
    const api = await startBenchApi(ctx.rootDir, { nodeArgs: profileArgs('api') });
    servers.push(api);
    const eventsBefore = (await api.request('route-events')) as QueuedEvents;

    // One real answer, returned verbatim by the bare app.
    const requestBody = JSON.stringify(SEED_ROUTE_BODY);
    const captured = await post(`${api.ready.url}${ROUTE_PATH}`, requestBody);
    if (captured.status !== 200) {
      throw new Error(`the API answered ${captured.status} to the seed request: ${captured.text}`);
    }

    ctx.log('http-route: starting the bare Express app (child process)');
    const bare = await startChildServer({
      name: 'bare',
      script: 'bench/servers/bare.ts',
      cwd: ctx.rootDir,
      env: { NODE_ENV: 'production', BENCH_BARE_BODY: captured.text },
      nodeArgs: profileArgs('bare'),
    });
    servers.push(bare);
    const check = await post(`${bare.ready.url}${ROUTE_PATH}`, requestBody);
    if (check.status !== 200 || check.text !== captured.text) {
      throw new Error(`the bare app does not return the captured body (status ${check.status})`);
    }
    return await fn(api, bare, captured.text, eventsBefore);
  } finally {
    // Stop in reverse order; one failing to stop must not leave the other running.
    for (const server of servers.reverse()) await server.stop().catch((error: unknown) => ctx.log(`${server.name}: ${String(error)}`));
  }
}

export const httpRouteSection: Section = {
  name: 'http-route',
  usesDatabase: true,
  title: 'POST /api/v1/route over HTTP vs bare Express',
  async run(ctx): Promise<SectionResult> {
    const durationSeconds = envNumber('BENCH_DURATION', 10);
    const warmupSeconds = envNumber('BENCH_WARMUP', 3);
    const connections = Math.round(envNumber('BENCH_CONNECTIONS', 64));
    const rounds = Math.round(envNumber('BENCH_ROUNDS', 1));
    const requestBody = JSON.stringify(SEED_ROUTE_BODY);

    return withServers(ctx, async (api, bare, responseBody, eventsBefore) => {
      const urls: Record<Target, string> = { route: `${api.ready.url}${ROUTE_PATH}`, bare: `${bare.ready.url}${ROUTE_PATH}` };
      const measured: Measured[] = [];
      for (let round = 1; round <= rounds; round++) {
        // Alternate which one goes first, so neither always runs on a machine the other just heated.
        const order: Target[] = round % 2 === 1 ? ['route', 'bare'] : ['bare', 'route'];
        for (const target of order) {
          const base = { url: urls[target], body: requestBody, connections };
          // A fresh load-generator process per server and round, warmed up with the server.
          const generator = await startLoadGenerator();
          ctx.log(`http-route: round ${round}/${rounds}, ${target}: warm-up ${warmupSeconds} s`);
          await generator.run({ ...base, durationSeconds: warmupSeconds });
          ctx.log(`http-route: round ${round}/${rounds}, ${target}: measuring ${durationSeconds} s at ${connections} connections`);
          const server = target === 'route' ? api : bare;
          const cpuBefore = (await server.request('cpu')) as NodeJS.CpuUsage;
          const window = new CpuWindow();
          const result = await generator.run({ ...base, durationSeconds });
          const cpuAfter = (await server.request('cpu')) as NodeJS.CpuUsage;
          await generator.stop();
          const cpuUs = cpuAfter.user - cpuBefore.user + (cpuAfter.system - cpuBefore.system);
          result.server_cpu_us_per_request = cpuUs / Math.max(1, result.requests_total);
          const usage = window.finish(cpuUs / 1e6, result.generator_cpu_s);
          if (usage) {
            result.cpu = {
              machine_busy_cores: usage.machine_busy_cores,
              bench_cores: usage.bench_cores,
              server_cores: usage.accounted_cores,
              irq_cores: usage.irq_cores,
              other_cores: usage.other_cores,
            };
          }
          measured.push({ round, target, result });
        }
      }

      ctx.log('http-route: counting the route events the API queued');
      const events = await checkRouteEvents(api, eventsBefore);
      const eventsOk = events.events_lost === 0 && events.queued_events === events.route_decisions;

      const of = (target: Target) => measured.filter((m) => m.target === target).map((m) => m.result);
      const routeRuns = of('route');
      const bareRuns = of('bare');
      const ratios = routeRuns.map((r, i) => r.requests_per_second / bareRuns[i]!.requests_per_second);
      const ratio = median(ratios);
      const routeRps = median(routeRuns.map((r) => r.requests_per_second));
      const bareRps = median(bareRuns.map((r) => r.requests_per_second));
      const routeCpu = median(routeRuns.map((r) => r.server_cpu_us_per_request ?? Number.NaN));
      const bareCpu = median(bareRuns.map((r) => r.server_cpu_us_per_request ?? Number.NaN));
      const routeP99 = median(routeRuns.map((r) => r.latency_ms.p99));
      const bareP99 = median(bareRuns.map((r) => r.latency_ms.p99));
      const bad = (runs: LoadResult[]) => runs.reduce((n, r) => n + r.non2xx + r.errors + r.timeouts, 0);
      const non2xx = (runs: LoadResult[]) => runs.reduce((n, r) => n + r.non2xx, 0);
      const errors = (runs: LoadResult[]) => runs.reduce((n, r) => n + r.errors + r.timeouts, 0);

      const row = (m: Measured): string[] => [
        m.target === 'route' ? `route API (${m.round})` : `bare Express (${m.round})`,
        int(m.result.requests_per_second),
        int(m.result.requests_total),
        fixed(m.result.latency_ms.p50),
        fixed(m.result.latency_ms.p90),
        fixed(m.result.latency_ms.p99),
        fixed(m.result.latency_ms.max, 1),
        fixed(m.result.server_cpu_us_per_request ?? Number.NaN, 1),
        m.result.cpu
          ? [m.result.cpu.bench_cores, m.result.cpu.server_cores, m.result.cpu.irq_cores, m.result.cpu.other_cores].map((c) => fixed(c)).join(' / ')
          : '—',
        String(m.result.non2xx),
        String(m.result.errors + m.result.timeouts),
      ];
      const rowsInOrder = [...measured].sort((a, b) => a.round - b.round || (a.target === 'route' ? -1 : 1));

      return {
        tables: [
          {
            title: `POST ${ROUTE_PATH}, ${connections} connections, ${durationSeconds} s each (after ${warmupSeconds} s warm-up), one at a time, loopback`,
            columns: ['server (round)', 'req/s', 'requests', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'server CPU µs/req', 'cores: bench / server / irq / other', 'non-2xx', 'errors'],
            rows: rowsInOrder.map(row),
          },
          {
            title: 'Route API vs bare Express' + (rounds > 1 ? ` (medians of ${rounds} rounds)` : ''),
            columns: ['route req/s', 'bare req/s', 'route/bare', 'route p99 ms', 'bare p99 ms', 'CPU µs/req route', 'CPU µs/req bare', 'bare/route CPU'],
            rows: [
              [
                int(routeRps),
                int(bareRps),
                percent(ratio),
                fixed(routeP99),
                fixed(bareP99),
                fixed(routeCpu, 1),
                fixed(bareCpu, 1),
                percent(bareCpu / routeCpu),
              ],
            ],
          },
        ],
        targets: [
          {
            name: 'route req/s as a share of bare Express',
            target: `≥ ${percent(TARGET_RATIO)}`,
            actual: percent(ratio),
            pass: ratio >= TARGET_RATIO,
          },
          {
            name: `route p99 latency at ${connections} connections`,
            target: `≤ ${TARGET_P99_MS} ms`,
            actual: `${fixed(routeP99)} ms`,
            pass: routeP99 <= TARGET_P99_MS,
          },
          {
            name: 'non-2xx responses and connection errors (route + bare)',
            target: '0',
            actual: `${non2xx(routeRuns) + non2xx(bareRuns)} non-2xx, ${errors(routeRuns) + errors(bareRuns)} errors`,
            pass: bad(routeRuns) + bad(bareRuns) === 0,
          },
          {
            name: 'route events queued = route decisions answered (none lost)',
            target: 'equal, 0 lost',
            actual: `${int(events.queued_events)} queued in ${int(events.queued_jobs)} jobs / ${int(events.route_decisions)} decisions, ${events.events_lost} lost`,
            pass: eventsOk,
          },
        ],
        notes: [
          `Request: ${requestBody}`,
          'Cores: CPU in use during the measured run, out of 2: the bench and its load-generator process (autocannon), the server process, interrupts and softirqs ' +
            '(loopback TCP), and every other process (Redis storing the route events counts there; for the bare app "other" should be near 0, ' +
            'else something else was running and the figures are pessimistic).',
          'Server CPU µs/req: user + system CPU time of the server process during the measured run divided by the requests answered; ' +
            'it moves less than req/s when other work shares the 2 cores, and bare/route CPU approximates the req/s ratio when the server process is the bottleneck.',
          `Response: ${responseBody.length} bytes, answered from a snapshot of ${String(api.ready.models)} models (the seeded catalog of the bench database).`,
          'Included: each answered request publishes its route.decided event to a BullMQ queue in Redis (group commit, after the answer is sent). ' +
            'Not included: the metric-aggregator draining that queue into Postgres (no consumer runs here; the queued events are counted, then deleted).',
          (JSON.parse(responseBody) as { is_ab_test?: unknown }).is_ab_test === true
            ? 'A/B: the captured answer came from an A/B test (a running test was found in the bench database).'
            : 'A/B: no test is running in the bench database, so enable_ab_test finds none and no assignment is made (the abtest-route section measures that path).',
        ],
        data: {
          connections,
          duration_s: durationSeconds,
          warmup_s: warmupSeconds,
          rounds,
          request_body: SEED_ROUTE_BODY,
          response_bytes: responseBody.length,
          response_body: JSON.parse(responseBody) as unknown,
          snapshot_models: api.ready.models,
          route_events: events,
          route_rps: round(routeRps, 1),
          bare_rps: round(bareRps, 1),
          ratio: round(ratio, 4),
          route_p99_ms: round(routeP99),
          route_cpu_us_per_request: round(routeCpu, 1),
          bare_cpu_us_per_request: round(bareCpu, 1),
          bare_p99_ms: round(bareP99),
          runs: measured.map((m) => ({
            round: m.round,
            target: m.target,
            ...m.result,
            requests_per_second: round(m.result.requests_per_second, 1),
            latency_ms: Object.fromEntries(Object.entries(m.result.latency_ms).map(([k, v]) => [k, round(v)])),
          })),
        },
      };
    });
  },
};
