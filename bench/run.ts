/**
 * `pnpm bench`: runs the benchmark sections in order, prints one table per figure and the targets
 * of SPEC.md ("Non-functional targets") with pass/fail, and writes bench/results/latest.json.
 *
 *   pnpm bench                          every section
 *   pnpm bench -- --only routing        some sections (comma-separated names); latest.json keeps
 *                                       the other sections' last figures
 *   pnpm bench -- --list                the section names
 *   pnpm bench -- --strict              exit 1 when a target is missed
 *
 * Environment: BENCH_DURATION (s, default 10), BENCH_WARMUP (s, 3), BENCH_CONNECTIONS (64),
 * BENCH_ROUNDS (1), BENCH_ROUTING_ITERATIONS (50000), BENCH_ROUTING_WARMUP (10000),
 * BENCH_DATABASE_URL, BENCH_REDIS_URL, BENCH_CPU_PROF (a folder: CPU profiles of both servers).
 *
 * A new section (metric ingestion, A/B routing …) is a `Section` in bench/sections/ added to
 * SECTIONS below. Figures are for people and docs/benchmarks.md; no test depends on them.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { prepareBenchDatabase } from './lib/database.js';
import { machineInfo } from './lib/machine.js';
import { BENCH_DATABASE_URL, BENCH_REDIS_URL, clearCircuits } from './lib/services.js';
import type { Section, SectionResult, Table, TargetCheck } from './lib/types.js';
import { httpRouteSection } from './sections/http-route.js';
import { routingSection } from './sections/routing.js';
import { ingestionSection } from './sections/ingestion.js';
import { abtestRouteSection } from './sections/abtest-route.js';
import { keyedRouteSection } from './sections/keyed-route.js';
import { budgetEnforcementSection } from './sections/budget-enforcement.js';
import { gatewaySection } from './sections/gateway.js';
import { gatewayStepsSection } from './sections/gateway-steps.js';
import { experimentsSection } from './sections/experiments.js';
import { tokenizingSection } from './sections/tokenizing.js';
import { memorySection } from './sections/memory.js';
import { readRss, rssLedger } from './lib/rss.js';

const SECTIONS: Section[] = [
  routingSection,
  httpRouteSection,
  ingestionSection,
  abtestRouteSection,
  keyedRouteSection,
  budgetEnforcementSection,
  gatewaySection,
  gatewayStepsSection,
  tokenizingSection,
  memorySection,
  experimentsSection,
];

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS_FILE = join(ROOT, 'bench', 'results', 'latest.json');

/** A mistake on the command line: reported in one line, without a stack. */
class UsageError extends Error {}

interface Args {
  only: string[] | null;
  list: boolean;
  strict: boolean;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { only: null, list: false, strict: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') continue; // `pnpm bench -- --only x` may pass the separator through
    if (arg === '--list') args.list = true;
    else if (arg === '--strict') args.strict = true;
    else if (arg === '--only' || arg.startsWith('--only=')) {
      const value = arg === '--only' ? argv[++i] : arg.slice('--only='.length);
      if (!value) throw new UsageError('--only needs section names, e.g. --only routing');
      args.only = [...(args.only ?? []), ...value.split(',').map((s) => s.trim()).filter(Boolean)];
    } else {
      throw new UsageError(`unknown argument "${arg}" (use --only NAMES, --list or --strict)`);
    }
  }
  return args;
}

interface RunInfo {
  started_at: string;
  finished_at: string;
  command: string;
  env: Record<string, string | undefined>;
  machine: ReturnType<typeof machineInfo>;
  load_average_1m: { before: number; after: number };
}

interface ResultsFile extends RunInfo {
  targets: TargetCheck[];
  sections: Record<string, unknown>;
  /** The run each section's figures come from (they differ after `--only` runs). */
  section_runs: Record<string, RunInfo>;
}

/**
 * Writes bench/results/latest.json. A run of every section replaces the file; an `--only` run
 * replaces just its own sections and targets, so the file keeps the latest figures of every
 * section, each with the run it came from in `section_runs`.
 */
function writeResults(run: RunInfo, targets: TargetCheck[], results: Record<string, SectionResult>, partial: boolean): void {
  let previous: Partial<ResultsFile> = {};
  if (partial && existsSync(RESULTS_FILE)) {
    try {
      previous = JSON.parse(readFileSync(RESULTS_FILE, 'utf8')) as Partial<ResultsFile>;
    } catch {
      previous = {}; // unreadable: start afresh
    }
  }
  const ran = new Set(Object.keys(results));
  const previousRuns: Record<string, RunInfo> = { ...previous.section_runs };
  // A file from before `section_runs` existed: its sections came from its own top-level run.
  if (!previous.section_runs && previous.sections && previous.started_at) {
    const { targets: _t, sections: _s, section_runs: _r, ...info } = previous as ResultsFile;
    for (const name of Object.keys(previous.sections)) previousRuns[name] = info;
  }
  const file: ResultsFile = {
    ...run,
    targets: [...(previous.targets ?? []).filter((t) => !ran.has(t.section)), ...targets],
    sections: {
      ...Object.fromEntries(Object.entries(previous.sections ?? {}).filter(([name]) => !ran.has(name))),
      ...Object.fromEntries(Object.entries(results).map(([name, r]) => [name, r.data])),
    },
    section_runs: {
      ...Object.fromEntries(Object.entries(previousRuns).filter(([name]) => !ran.has(name))),
      ...Object.fromEntries([...ran].map((name) => [name, run])),
    },
  };
  mkdirSync(dirname(RESULTS_FILE), { recursive: true });
  writeFileSync(RESULTS_FILE, `${JSON.stringify(file, null, 2)}\n`);
}

function formatTable(table: Table): string {
  const widths = table.columns.map((c, i) => Math.max(c.length, ...table.rows.map((r) => (r[i] ?? '').length)));
  // Text columns left-aligned, figures right-aligned.
  const numeric = table.columns.map((_, i) => table.rows.every((r) => /^[-\d.,% —]+$/.test(r[i] ?? '')));
  const cell = (value: string, i: number) => (numeric[i] ? value.padStart(widths[i]!) : value.padEnd(widths[i]!));
  const line = (cells: string[]) => `| ${cells.map(cell).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (numeric[i] ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`;
  return [`${table.title}`, '', line(table.columns), rule, ...table.rows.map(line)].join('\n');
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  if (args.list) {
    for (const s of SECTIONS) console.log(`${s.name.padEnd(12)} ${s.title}`);
    return 0;
  }
  const unknown = (args.only ?? []).filter((name) => !SECTIONS.some((s) => s.name === name));
  if (unknown.length) throw new UsageError(`unknown section(s): ${unknown.join(', ')} (known: ${SECTIONS.map((s) => s.name).join(', ')})`);
  const selected = args.only ? SECTIONS.filter((s) => args.only!.includes(s.name)) : SECTIONS;

  const machine = machineInfo(ROOT);
  const startedAt = new Date();
  const log = (message: string) => process.stderr.write(`[bench] ${message}\n`);
  // Other work on a 2-core machine moves every figure: say how busy it was.
  const loadBefore = os.loadavg()[0]!;
  if (loadBefore > 0.5) log(`warning: 1-minute load average is ${loadBefore.toFixed(2)} before the run; figures will be pessimistic`);
  console.log(
    `Machine: ${machine.cpus} CPUs (${machine.cpu_model}), ${machine.memory_gib} GiB, ${machine.os}; ` +
      `Node ${machine.node}, express ${machine.express}, autocannon ${machine.autocannon}`,
  );

  const results: Record<string, SectionResult> = {};
  const targets: TargetCheck[] = [];
  if (selected.some((s) => s.usesDatabase)) {
    await prepareBenchDatabase(BENCH_DATABASE_URL, log);
    const circuits = await clearCircuits(BENCH_REDIS_URL);
    if (circuits) log(`cleared ${circuits} model circuit(s) an earlier run left under the bench prefix`);
  }
  for (const section of selected) {
    log(`section ${section.name}: ${section.title}`);
    rssLedger.section = section.name;
    const started = performance.now();
    const result = await section.run({ rootDir: ROOT, log });
    log(`section ${section.name} done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    // The RSS of the processes this section started goes to latest.json with its figures.
    result.data = { ...result.data, process_rss: rssLedger.all().filter((r) => r.section === section.name) };
    results[section.name] = result;
    targets.push(...result.targets.map((t) => ({ section: section.name, ...t })));
    console.log(`\n## ${section.title}\n`);
    for (const table of result.tables) console.log(`${formatTable(table)}\n`);
    for (const note of result.notes) console.log(`- ${note}`);
  }

  // Every process the sections started: RSS once ready and just before it was stopped.
  const rss = rssLedger.all();
  console.log(
    `\n${formatTable({
      title: '## Memory (RSS, MB) of every process the bench started: once ready (idle), before it was stopped (after), peak',
      columns: ['section', 'process', 'idle', 'after', 'peak'],
      rows: rss.map((r) => [r.section, r.process, r.idle?.rss_mb.toFixed(1) ?? '—', r.after?.rss_mb.toFixed(1) ?? '—', r.after?.peak_mb.toFixed(1) ?? '—']),
    })}`,
  );
  const bench = readRss(process.pid);
  if (bench) console.log(`\nThe bench process itself: ${bench.rss_mb.toFixed(1)} MB now, peak ${bench.peak_mb.toFixed(1)} MB.`);

  const loadAfter = os.loadavg()[0]!;
  console.log(`\nLoad average (1 min): ${loadBefore.toFixed(2)} before, ${loadAfter.toFixed(2)} after (the bench's own load included).`);
  console.log('\n## Targets (SPEC.md, "Non-functional targets")\n');
  console.log(
    formatTable({
      title: '',
      columns: ['section', 'target', 'wanted', 'measured', 'result'],
      rows: targets.map((t) => [t.section, t.name, t.target, t.actual, t.pass ? 'PASS' : 'FAIL']),
    }).trimStart(),
  );

  const command = `pnpm bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).filter((a) => a !== '--').join(' ')}` : ''}`;
  const run: RunInfo = {
    started_at: startedAt.toISOString(),
    finished_at: new Date().toISOString(),
    command,
    env: Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('BENCH_') && k !== 'BENCH_BARE_BODY')),
    machine,
    load_average_1m: { before: Number(loadBefore.toFixed(2)), after: Number(loadAfter.toFixed(2)) },
  };
  writeResults(run, targets, results, args.only !== null);
  console.log(`\nResults written to ${relative(ROOT, RESULTS_FILE)}`);
  const failed = targets.filter((t) => !t.pass).length;
  return args.strict && failed > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof UsageError) console.error(`pnpm bench: ${error.message}`);
    else console.error(error instanceof Error ? (error.stack ?? error.message) : error);
    process.exit(1);
  },
);
