/**
 * Section "abtest-route": POST /api/v1/route with a running consistent_hash A/B test
 * (enable_ab_test: true) beside the plain route (enable_ab_test: false), on the same API child
 * process, same connections and duration, one after the other in one run. Requests rotate over
 * 10,000 user_ids, so after the warm-up every user's assignment is cached.
 *
 * BENCH_DURATION, BENCH_WARMUP, BENCH_CONNECTIONS, BENCH_ROUNDS as for http-route; BENCH_AB_USERS (10000).
 */
import { randomBytes } from 'node:crypto';
import { type ChildServer, startBenchApi } from '../lib/child.js';
import { measureAlternating, medians, resultsOf, RUN_COLUMNS, runRows } from '../lib/alternating.js';
import { callJson, sleep } from '../lib/services.js';
import { envNumber, fixed, int, median, percent, round } from '../lib/stats.js';
import type { Section, SectionResult } from '../lib/types.js';

const TARGET_EXTRA_COST = 0.2;
const ROUTE_PATH = '/api/v1/route';
const TEST_PREFIX = 'bench-ab-';

type Target = 'plain' | 'abtest';

function bodies(users: number, abTest: boolean): string[] {
  return Array.from({ length: users }, (_, i) =>
    JSON.stringify({ prompt: '用户的问题', max_tokens: 1000, strategy: 'cheapest', user_id: `bench-user-${i}`, enable_ab_test: abTest }),
  );
}

/** Completes and deletes the bench's own tests an interrupted run may have left. */
async function removeBenchTests(base: string): Promise<void> {
  const list = await callJson('GET', `${base}/api/v1/abtests?limit=1000`, undefined, true);
  const items = ((list.body as { items?: unknown[]; abtests?: unknown[] } | unknown[] | null) ?? []) as unknown;
  const tests = (Array.isArray(items) ? items : ((items as { items?: unknown[] }).items ?? (items as { abtests?: unknown[] }).abtests ?? [])) as {
    id: string;
    status: string;
  }[];
  for (const t of tests.filter((t) => t.id.startsWith(TEST_PREFIX))) {
    if (t.status === 'running' || t.status === 'paused') await callJson('POST', `${base}/api/v1/abtests/${t.id}/complete`, undefined, true);
    await callJson('DELETE', `${base}/api/v1/abtests/${t.id}`, undefined, true);
  }
}

export const abtestRouteSection: Section = {
  name: 'abtest-route',
  usesDatabase: true,
  title: 'POST /api/v1/route with a running A/B test vs the plain route',
  async run(ctx): Promise<SectionResult> {
    const durationSeconds = envNumber('BENCH_DURATION', 10);
    const warmupSeconds = envNumber('BENCH_WARMUP', 3);
    const connections = Math.round(envNumber('BENCH_CONNECTIONS', 64));
    const rounds = Math.round(envNumber('BENCH_ROUNDS', 1));
    const users = Math.round(envNumber('BENCH_AB_USERS', 10_000));

    let api: ChildServer | null = null;
    let testId: string | null = null;
    try {
      ctx.log('abtest-route: starting the API (child process)');
      api = await startBenchApi(ctx.rootDir);
      const base = api.ready.url;
      await removeBenchTests(base);

      const models = await callJson('GET', `${base}/api/v1/models`, undefined, true);
      const list = (Array.isArray(models.body) ? models.body : ((models.body as { items?: unknown[]; models?: unknown[] }).items ??
        (models.body as { models?: unknown[] }).models ?? [])) as { id: string }[];
      // The variants: the model the plain request chooses, and another one.
      const plain = await callJson('POST', `${base}${ROUTE_PATH}`, bodies(1, false)[0]);
      if (plain.status !== 200) throw new Error(`plain route answered ${plain.status}: ${plain.text}`);
      const chosen = (plain.body as { model_id?: string; model?: { id?: string } }).model_id ?? (plain.body as { model?: { id?: string } }).model?.id;
      const other = list.find((m) => m.id !== chosen);
      if (!chosen || !other) throw new Error(`cannot pick two variant models (chosen ${String(chosen)}, ${list.length} models listed)`);

      testId = `${TEST_PREFIX}${randomBytes(4).toString('hex')}`;
      const created = await callJson(
        'POST',
        `${base}/api/v1/abtests`,
        {
          id: testId,
          name: 'bench A/B route',
          strategy: 'consistent_hash',
          variants: [
            { id: 'control', model_id: chosen, weight: 0.5 },
            { id: 'treatment', model_id: other.id, weight: 0.5 },
          ],
        },
        true,
      );
      if (created.status !== 201) throw new Error(`creating the test answered ${created.status}: ${created.text}`);
      const started = await callJson('POST', `${base}/api/v1/abtests/${testId}/start`, undefined, true);
      if (started.status !== 200) throw new Error(`starting the test answered ${started.status}: ${started.text}`);
      const abBodies = bodies(users, true);
      for (let i = 0; ; i++) {
        const r = await callJson('POST', `${base}${ROUTE_PATH}`, abBodies[0]);
        if (r.status === 200 && (r.body as { ab_test_id?: string }).ab_test_id === testId) break;
        if (i > 100) throw new Error(`the API does not assign test ${testId} after 10 s: ${r.text}`);
        await sleep(100);
      }
      // Every user once, so the measured A/B runs read cached assignments only.
      ctx.log(`abtest-route: assigning all ${int(users)} users once`);
      let nextUser = 0;
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          for (let i = nextUser++; i < abBodies.length; i = nextUser++) {
            const r = await callJson('POST', `${base}${ROUTE_PATH}`, abBodies[i]);
            if (r.status !== 200) throw new Error(`assigning user ${i}: ${r.status} ${r.text}`);
          }
        }),
      );
      const plainBodies = bodies(users, false);
      const sample = await callJson('POST', `${base}${ROUTE_PATH}`, abBodies[1]);

      const measured = await measureAlternating<Target>({
        ctx,
        section: 'abtest-route',
        server: api,
        targets: ['abtest', 'plain'],
        rounds,
        warmupSeconds,
        durationSeconds,
        connections,
        load: (target) => ({ url: `${base}${ROUTE_PATH}`, body: plainBodies[0]!, bodies: target === 'abtest' ? abBodies : plainBodies, connections }),
      });
      const abRuns = resultsOf(measured, 'abtest');
      const plainRuns = resultsOf(measured, 'plain');
      const abMedians = medians(abRuns);
      const plainMedians = medians(plainRuns);
      const [abRps, plainRps, abP99, plainP99, abCpu, plainCpu] = [abMedians.rps, plainMedians.rps, abMedians.p99, plainMedians.p99, abMedians.cpu, plainMedians.cpu];
      // Cost of a request = 1 / throughput: how much more an A/B request costs than a plain one.
      const extra = median(abRuns.map((x, i) => plainRuns[i]!.requests_per_second / x.requests_per_second - 1));
      const extraCpu = abCpu / plainCpu - 1;
      const bad = abMedians.bad + plainMedians.bad;

      return {
        tables: [
          {
            title: `POST ${ROUTE_PATH}, ${connections} connections, ${durationSeconds} s each (after ${warmupSeconds} s warm-up), ${int(users)} rotating user_ids, loopback`,
            columns: ['path (round)', ...RUN_COLUMNS],
            rows: runRows(measured, 'plain', (t) => (t === 'plain' ? 'plain route' : 'route + A/B test')),
          },
          {
            title: 'A/B route vs plain route' + (rounds > 1 ? ` (medians of ${rounds} rounds)` : ''),
            columns: ['plain req/s', 'A/B req/s', 'A/B extra cost (req/s)', 'plain p99 ms', 'A/B p99 ms', 'CPU µs/req plain', 'CPU µs/req A/B', 'A/B extra cost (CPU)'],
            rows: [[int(plainRps), int(abRps), percent(extra), fixed(plainP99), fixed(abP99), fixed(plainCpu, 1), fixed(abCpu, 1), percent(extraCpu)]],
          },
        ],
        targets: [
          { name: 'A/B route costs more than the plain route (plain req/s ÷ A/B req/s − 1)', target: `< ${percent(TARGET_EXTRA_COST)}`, actual: percent(extra), pass: extra < TARGET_EXTRA_COST },
          { name: 'non-2xx responses and connection errors', target: '0', actual: String(bad), pass: bad === 0 },
        ],
        notes: [
          `Test ${testId}: consistent_hash, variants control → ${chosen} and treatment → ${other.id}, 50/50, created and started through the admin API, completed and deleted afterwards.`,
          `A/B answer sample: ${sample.text}`,
          'Both paths publish their route.decided event to Redis (as in http-route); the A/B path also resolves the user\'s variant (cached after the warm-up) and counts the assignment.',
          'Extra cost (CPU): API process CPU µs per request, A/B ÷ plain − 1; less sensitive than req/s to other work on the 2 cores.',
        ],
        data: {
          connections,
          duration_s: durationSeconds,
          warmup_s: warmupSeconds,
          rounds,
          users,
          test_id: testId,
          variants: { control: chosen, treatment: other.id },
          plain_rps: round(plainRps, 1),
          ab_rps: round(abRps, 1),
          plain_p99_ms: round(plainP99),
          ab_p99_ms: round(abP99),
          plain_cpu_us_per_request: round(plainCpu, 1),
          ab_cpu_us_per_request: round(abCpu, 1),
          extra_cost_rps: round(extra, 4),
          extra_cost_cpu: round(extraCpu, 4),
          runs: measured.map((m) => ({ round: m.round, target: m.target, ...m.result, requests_per_second: round(m.result.requests_per_second, 1) })),
        },
      };
    } finally {
      if (api) {
        if (testId) {
          await callJson('POST', `${api.ready.url}/api/v1/abtests/${testId}/complete`, undefined, true).catch(() => null);
          await callJson('DELETE', `${api.ready.url}/api/v1/abtests/${testId}`, undefined, true).catch(() => null);
        }
        await api.stop().catch((error: unknown) => ctx.log(`api: ${String(error)}`));
      }
    }
  },
};
