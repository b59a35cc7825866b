/**
 * Section "routing": the routing decision in process, over a synthetic 200-model snapshot.
 * Each decision is timed on its own with process.hrtime.bigint (the timer costs well under a
 * microsecond, so it is included in the figures and makes them slightly pessimistic).
 *
 * Modes: "route" is the decision as POST /api/v1/route makes it (only the chosen model and its
 * fallbacks ranked), "tokenize+route" adds counting the prompt's tokens, and "route, rank all"
 * ranks every eligible model as `?explain=true` does (shown, not held to the target).
 */
import {
  countPromptTokens,
  DEFAULT_ROUTING_OPTIONS,
  ROUTING_STRATEGIES,
  route,
  type RouteQuery,
  type RoutingStrategy,
} from '@model-router/domain';
import { prompts, syntheticSnapshot } from '../fixtures/snapshot.js';
import { CpuWindow } from '../lib/machine.js';
import { envNumber, fixed, round, type Summary, summarize } from '../lib/stats.js';
import type { Section, SectionResult } from '../lib/types.js';

const TARGET_P99_US = 50;
const MODEL_COUNT = 200;
const MAX_TOKENS = 1000;

type Mode = 'route' | 'tokenize+route' | 'route, rank all';

interface Row {
  strategy: RoutingStrategy;
  mode: Mode;
  summary_us: Summary;
}

// Written to by every decision so the work cannot be optimised away.
let sink = 0;

export const routingSection: Section = {
  name: 'routing',
  title: 'Routing decision in process',
  async run(ctx): Promise<SectionResult> {
    const iterations = Math.round(envNumber('BENCH_ROUTING_ITERATIONS', 50_000));
    const warmup = Math.round(envNumber('BENCH_ROUTING_WARMUP', 10_000));
    const { snapshot, stats } = syntheticSnapshot(MODEL_COUNT);
    const texts = prompts(256);
    const tokenCounts = texts.map(countPromptTokens);
    const meanWords = texts.reduce((n, t) => n + t.split(' ').length, 0) / texts.length;
    const meanTokens = tokenCounts.reduce((a, b) => a + b, 0) / tokenCounts.length;

    const baseQuery = (strategy: RoutingStrategy, promptTokens: number): RouteQuery => ({
      prompt_tokens: promptTokens,
      max_tokens: MAX_TOKENS,
      strategy,
    });

    const decide = (strategy: RoutingStrategy, mode: Mode, i: number): void => {
      const k = i & 255;
      const promptTokens = mode === 'route' ? tokenCounts[k]! : countPromptTokens(texts[k]!);
      const decision = route(snapshot, baseQuery(strategy, promptTokens), DEFAULT_ROUTING_OPTIONS, { rankAll: mode === 'route, rank all' });
      if (decision.ok) sink += decision.chosen.estimated_cost;
    };

    const modes: Mode[] = ['route', 'tokenize+route', 'route, rank all'];
    // Warm every code path first, so the first strategy measured is not the one paying for JIT.
    ctx.log(`routing: warming up (${warmup} decisions per strategy and mode)`);
    for (const strategy of ROUTING_STRATEGIES) {
      for (const mode of modes) for (let i = 0; i < warmup; i++) decide(strategy, mode, i);
    }

    const rows: Row[] = [];
    const samples = new Float64Array(iterations);
    const window = new CpuWindow();
    for (const mode of modes) {
      for (const strategy of ROUTING_STRATEGIES) {
        ctx.log(`routing: ${strategy}, ${mode}, ${iterations} decisions`);
        for (let i = 0; i < iterations; i++) {
          const start = process.hrtime.bigint();
          decide(strategy, mode, i);
          samples[i] = Number(process.hrtime.bigint() - start) / 1000;
        }
        rows.push({ strategy, mode, summary_us: summarize(samples) });
      }
    }

    const cpu = window.finish();
    const sample = route(snapshot, baseQuery('cheapest', tokenCounts[0]!), DEFAULT_ROUTING_OPTIONS, { rankAll: false });
    const eligible = sample.ok ? sample.candidates.length : 0;
    const excluded = sample.excluded.length;
    const worst = (mode: Mode) =>
      rows.filter((r) => r.mode === mode).reduce((a, b) => (b.summary_us.p99 > a.summary_us.p99 ? b : a));
    const worstRoute = worst('route');
    const worstTokenized = worst('tokenize+route');

    return {
      tables: [
        {
          title: `Routing decision, ${MODEL_COUNT} models (${eligible} eligible, ${excluded} excluded), ${iterations.toLocaleString('en-US')} decisions each, µs`,
          columns: ['strategy', 'mode', 'p50 µs', 'p99 µs', 'mean µs', 'p99.9 µs', 'max µs'],
          rows: rows.map((r) => [
            r.strategy,
            r.mode,
            fixed(r.summary_us.p50),
            fixed(r.summary_us.p99),
            fixed(r.summary_us.mean),
            fixed(r.summary_us.p999),
            fixed(r.summary_us.max, 0),
          ]),
        },
      ],
      targets: [
        {
          name: 'route decision p99 (worst strategy, prompt already tokenized)',
          target: `≤ ${TARGET_P99_US} µs`,
          actual: `${fixed(worstRoute.summary_us.p99)} µs (${worstRoute.strategy})`,
          pass: worstRoute.summary_us.p99 <= TARGET_P99_US,
        },
        {
          name: 'route decision p99 (worst strategy, tokenizing the prompt included)',
          target: `≤ ${TARGET_P99_US} µs`,
          actual: `${fixed(worstTokenized.summary_us.p99)} µs (${worstTokenized.strategy})`,
          pass: worstTokenized.summary_us.p99 <= TARGET_P99_US,
        },
      ],
      notes: [
        `Prompts: 256 distinct texts of ~${Math.round(meanWords)} words (~${Math.round(meanTokens)} o200k tokens), max_tokens ${MAX_TOKENS}, no filters; DEFAULT_ROUTING_OPTIONS.`,
        `Snapshot: ${stats.models} models, ${stats.providers} providers, ${stats.disabled} disabled, ${stats.with_stats} with observed stats, ` +
          `${stats.circuits_open} circuits open, ${stats.circuits_half_open} half-open, ${stats.budget_blocked} budget-blocked.`,
        'Not in this figure yet: A/B test assignment (the API picks the running test and hashes the user into a variant around this call); ' +
          'the target\'s "20 running tests" case is for a later section.',
        ...(cpu
          ? [
              `CPU while measuring: the bench ${fixed(cpu.bench_cores)} cores, every other process ${fixed(cpu.other_cores)} cores (of 2); ` +
                'other work on the machine above ~0.1 makes these figures pessimistic.',
            ]
          : []),
      ],
      data: {
        model_count: MODEL_COUNT,
        eligible,
        excluded,
        snapshot: stats,
        iterations,
        warmup,
        prompt_words_mean: round(meanWords, 1),
        prompt_tokens_mean: round(meanTokens, 1),
        max_tokens: MAX_TOKENS,
        results: rows.map((r) => ({
          strategy: r.strategy,
          mode: r.mode,
          p50_us: round(r.summary_us.p50),
          p90_us: round(r.summary_us.p90),
          p99_us: round(r.summary_us.p99),
          p999_us: round(r.summary_us.p999),
          mean_us: round(r.summary_us.mean),
          max_us: round(r.summary_us.max),
        })),
        cpu,
        checksum: round(sink, 6),
      },
    };
  },
};
