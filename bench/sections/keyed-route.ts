/**
 * Section "keyed-route": POST /api/v1/route called with a stored API key that has rate limits
 * (the key looked up in the API's snapshot, its rpm and tpm counted by one Lua script in Redis per
 * request, the x-ratelimit-* headers set) beside the same route called with the configured client
 * key (no stored key, no limit, no Redis round trip), on the same API child process, same
 * connections and duration, one after the other in one run. The figure is the API process's own
 * CPU time per request (process.cpuUsage() in the child, before and after each measured run).
 *
 * BENCH_DURATION, BENCH_WARMUP, BENCH_CONNECTIONS, BENCH_ROUNDS as for http-route.
 */
import { type ChildServer, profileArgs, startBenchApi } from '../lib/child.js';
import { measureAlternating, medians, resultsOf, RUN_COLUMNS, runRows } from '../lib/alternating.js';
import { callJson } from '../lib/services.js';
import { envNumber, fixed, int, percent, round } from '../lib/stats.js';
import type { Section, SectionResult } from '../lib/types.js';
import { SEED_ROUTE_BODY } from './http-route.js';

/** Issue 12: the keyed path costs < 15 % more CPU per request. */
const TARGET_EXTRA_CPU = 0.15;
const ROUTE_PATH = '/api/v1/route';
const KEY_NAME = 'bench keyed route';
/** Limits no run reaches (the schema's maximum): every request is counted, none refused. */
const LIMITS = { rpm: 1_000_000_000, tpm: 1_000_000_000 };

type Target = 'config-key' | 'stored-key';

/** Deletes the bench's own keys an interrupted run may have left. */
async function removeBenchKeys(base: string): Promise<void> {
  const list = await callJson('GET', `${base}/api/v1/keys`, undefined, true);
  const keys = ((list.body as { keys?: { id: string; name: string }[] } | null)?.keys ?? []).filter((k) => k.name === KEY_NAME);
  for (const key of keys) await callJson('DELETE', `${base}/api/v1/keys/${key.id}`, undefined, true);
}

export const keyedRouteSection: Section = {
  name: 'keyed-route',
  usesDatabase: true,
  title: 'POST /api/v1/route with a rate-limited API key vs the configured client key',
  async run(ctx): Promise<SectionResult> {
    const durationSeconds = envNumber('BENCH_DURATION', 10);
    const warmupSeconds = envNumber('BENCH_WARMUP', 3);
    const connections = Math.round(envNumber('BENCH_CONNECTIONS', 64));
    const rounds = Math.round(envNumber('BENCH_ROUNDS', 1));
    const body = JSON.stringify(SEED_ROUTE_BODY);

    let api: ChildServer | null = null;
    let keyId: string | null = null;
    try {
      ctx.log('keyed-route: starting the API (child process)');
      api = await startBenchApi(ctx.rootDir, { nodeArgs: profileArgs('api-keyed-route') });
      const base = api.ready.url;
      await removeBenchKeys(base);
      const created = await callJson('POST', `${base}/api/v1/keys`, { name: KEY_NAME, ...LIMITS }, true);
      if (created.status !== 201) throw new Error(`creating the key answered ${created.status}: ${created.text}`);
      const key = created.body as { id: string; secret: string };
      keyId = key.id;
      const keyed = { authorization: `Bearer ${key.secret}` };
      // The API knows the key once its answer carries the key's headers.
      let sample: Response | null = null;
      for (let i = 0; i < 100; i++) {
        sample = await fetch(`${base}${ROUTE_PATH}`, { method: 'POST', headers: { ...keyed, 'content-type': 'application/json' }, body });
        await sample.text();
        if (sample.status === 200 && sample.headers.get('x-ratelimit-limit-requests') !== null) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      if (sample?.status !== 200 || sample.headers.get('x-ratelimit-limit-requests') === null) {
        throw new Error(`the API does not apply the key's limits (status ${sample?.status})`);
      }
      const sampleHeaders = Object.fromEntries([...sample.headers].filter(([name]) => name.startsWith('x-ratelimit-')));

      const measured = await measureAlternating<Target>({
        ctx,
        section: 'keyed-route',
        server: api,
        targets: ['stored-key', 'config-key'],
        rounds,
        warmupSeconds,
        durationSeconds,
        connections,
        // The load generator sends the bench's client key unless told otherwise.
        load: (target) => ({ url: `${base}${ROUTE_PATH}`, body, connections, ...(target === 'stored-key' ? { headers: keyed } : {}) }),
      });
      const keyedMedians = medians(resultsOf(measured, 'stored-key'));
      const plainMedians = medians(resultsOf(measured, 'config-key'));
      const [keyedRps, plainRps, keyedP99, plainP99, keyedCpu, plainCpu] = [keyedMedians.rps, plainMedians.rps, keyedMedians.p99, plainMedians.p99, keyedMedians.cpu, plainMedians.cpu];
      const extraCpu = keyedCpu / plainCpu - 1;
      const bad = keyedMedians.bad + plainMedians.bad;
      const label = (t: Target) => (t === 'stored-key' ? 'stored key + rate limit' : 'config client key');

      return {
        tables: [
          {
            title: `POST ${ROUTE_PATH}, ${connections} connections, ${durationSeconds} s each (after ${warmupSeconds} s warm-up), loopback`,
            columns: ['key (round)', ...RUN_COLUMNS],
            rows: runRows(measured, 'config-key', label),
          },
          {
            title: 'Rate-limited stored key vs config client key' + (rounds > 1 ? ` (medians of ${rounds} rounds)` : ''),
            columns: ['config key req/s', 'stored key req/s', 'config key p99 ms', 'stored key p99 ms', 'CPU µs/req config key', 'CPU µs/req stored key', 'keyed extra CPU'],
            rows: [[int(plainRps), int(keyedRps), fixed(plainP99), fixed(keyedP99), fixed(plainCpu, 1), fixed(keyedCpu, 1), percent(extraCpu)]],
          },
        ],
        targets: [
          {
            name: 'keyed /route (stored key, rpm + tpm) API CPU per request over the unkeyed one',
            target: `< ${percent(TARGET_EXTRA_CPU)}`,
            actual: percent(extraCpu),
            pass: extraCpu < TARGET_EXTRA_CPU,
          },
          { name: 'non-2xx responses and connection errors (both keys)', target: '0', actual: String(bad), pass: bad === 0 },
        ],
        notes: [
          `Request: ${body}`,
          `Stored key "${KEY_NAME}" (created through POST /api/v1/keys, deleted afterwards) with rpm ${int(LIMITS.rpm)} and tpm ${int(LIMITS.tpm)}: every request is counted in Redis (one EVALSHA checking both limits) and none is refused.`,
          `Keyed answer headers (sample): ${JSON.stringify(sampleHeaders)}`,
          'Config client key: auth.client_api_key of the bench API, compared in constant time; no stored key, so no grant, no limit and no Redis round trip.',
          'Both paths publish their route.decided event to Redis (as in http-route). API CPU µs/req: user + system CPU of the API process during the measured run ÷ requests answered.',
        ],
        data: {
          connections,
          duration_s: durationSeconds,
          warmup_s: warmupSeconds,
          rounds,
          limits: LIMITS,
          config_key_rps: round(plainRps, 1),
          stored_key_rps: round(keyedRps, 1),
          config_key_p99_ms: round(plainP99),
          stored_key_p99_ms: round(keyedP99),
          config_key_cpu_us_per_request: round(plainCpu, 1),
          stored_key_cpu_us_per_request: round(keyedCpu, 1),
          extra_cpu: round(extraCpu, 4),
          runs: measured.map((m) => ({ round: m.round, target: m.target, ...m.result, requests_per_second: round(m.result.requests_per_second, 1) })),
        },
      };
    } finally {
      if (api) {
        if (keyId) await callJson('DELETE', `${api.ready.url}/api/v1/keys/${keyId}`, undefined, true).catch(() => undefined);
        await api.stop().catch((error: unknown) => ctx.log(`api: ${String(error)}`));
      }
    }
  },
};
