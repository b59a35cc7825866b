/**
 * A strict reader of the Prometheus text exposition format (version 0.0.4), the test oracle for
 * every service's /metrics. Written here because neither npm parser reads prom-client's valid
 * output correctly: parse-prometheus-text-format (unreleased since 2019) merges labelled
 * histograms and drops their _sum and _count; prom2javascript rejects NaN (prom-client writes
 * `Nan` for an event-loop gauge with no samples yet, which Prometheus accepts). It enforces what
 * Prometheus' own parser does: metric and label name syntax, label value escapes, Go-style float
 * values, TYPE before samples and at most one HELP/TYPE per family, each family's lines in one
 * group, no duplicate series, and for histograms cumulative buckets ending in +Inf equal to _count.
 */

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface Sample {
  /** The series name as written (`…_bucket`, `…_sum`, `…_count` for histograms). */
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  type: MetricType;
  help: string | null;
  samples: Sample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
// What Go's strconv.ParseFloat accepts in practice here (case-insensitive Inf/NaN).
const FLOAT = /^[+-]?(?:inf(?:inity)?|nan|(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)$/i;
const TYPES = new Set<MetricType>(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

export class PrometheusParseError extends Error {
  constructor(line: number, message: string, text: string) {
    super(`line ${line}: ${message}: ${text.slice(0, 200)}`);
  }
}

function parseFloatGo(text: string): number | null {
  if (!FLOAT.test(text)) return null;
  const lower = text.toLowerCase().replace(/^\+/, '');
  if (lower === 'nan') return Number.NaN;
  if (/^-?inf(inity)?$/.test(lower)) return lower.startsWith('-') ? -Infinity : Infinity;
  return Number(text);
}

/** Parses `{a="x",b="y\"z"}` starting at `start` (at the `{`); returns the labels and the index after `}`. */
function parseLabels(text: string, start: number, fail: (message: string) => never): [Record<string, string>, number] {
  const labels: Record<string, string> = {};
  let i = start + 1;
  for (;;) {
    if (text[i] === '}') return [labels, i + 1];
    const eq = text.indexOf('=', i);
    if (eq < 0) fail('label without "="');
    const name = text.slice(i, eq).trim();
    if (!LABEL_NAME.test(name)) fail(`bad label name "${name}"`);
    if (name in labels) fail(`label "${name}" twice`);
    i = eq + 1;
    if (text[i] !== '"') fail(`label "${name}" value is not quoted`);
    let value = '';
    for (i++; ; i++) {
      const c = text[i];
      if (c === undefined) fail('unterminated label value');
      if (c === '"') break;
      if (c === '\\') {
        const next = text[++i];
        if (next === '\\') value += '\\';
        else if (next === '"') value += '"';
        else if (next === 'n') value += '\n';
        else fail(`bad escape "\\${next ?? ''}" in label value`);
      } else value += c;
    }
    labels[name] = value;
    i++;
    if (text[i] === ',') i++;
    else if (text[i] !== '}') fail('expected "," or "}" after a label');
  }
}

function seriesKey(name: string, labels: Record<string, string>): string {
  return `${name}{${Object.keys(labels).sort().map((k) => `${k}=${JSON.stringify(labels[k])}`).join(',')}}`;
}

export function parsePrometheusText(text: string): Family[] {
  if (text.length > 0 && !text.endsWith('\n')) throw new PrometheusParseError(0, 'the exposition must end with a newline', text.slice(-80));
  const families = new Map<string, Family>();
  const closed = new Set<string>();
  const series = new Set<string>();
  let current: Family | null = null;

  const familyOf = (name: string): Family => {
    let family = families.get(name);
    if (!family) {
      family = { name, type: 'untyped', help: null, samples: [] };
      families.set(name, family);
    }
    return family;
  };
  const enter = (family: Family, lineNo: number, line: string): void => {
    if (current === family) return;
    if (closed.has(family.name)) throw new PrometheusParseError(lineNo, `lines of ${family.name} are not in one group`, line);
    if (current) closed.add(current.name);
    current = family;
  };

  text.split('\n').forEach((line, index) => {
    const lineNo = index + 1;
    const fail = (message: string): never => {
      throw new PrometheusParseError(lineNo, message, line);
    };
    if (line.trim() === '') return;
    if (line.startsWith('#')) {
      const meta = /^#[ \t]+(HELP|TYPE)[ \t]+(\S+)(?:[ \t]+(.*))?$/.exec(line);
      if (!meta) {
        if (/^#[ \t]+(HELP|TYPE)\b/.test(line)) fail('malformed HELP or TYPE line');
        return; // a plain comment
      }
      const [, kind, name, rest = ''] = meta;
      if (!METRIC_NAME.test(name!)) fail(`bad metric name "${name}"`);
      const family = familyOf(name!);
      enter(family, lineNo, line);
      if (kind === 'HELP') {
        if (family.help !== null) fail(`second HELP for ${name}`);
        family.help = rest.replace(/\\(\\|n)/g, (_, c: string) => (c === 'n' ? '\n' : '\\'));
      } else {
        if (family.type !== 'untyped' || family.samples.length > 0) fail(`TYPE for ${name} after its samples or a second TYPE`);
        if (!TYPES.has(rest.trim() as MetricType)) fail(`unknown type "${rest}"`);
        family.type = rest.trim() as MetricType;
      }
      return;
    }
    const nameMatch = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
    if (!nameMatch) fail('a sample must start with a metric name');
    const name = nameMatch![0];
    let i = name.length;
    let labels: Record<string, string> = {};
    if (line[i] === '{') [labels, i] = parseLabels(line, i, fail);
    const tail = line.slice(i);
    const parts = /^[ \t]+(\S+)(?:[ \t]+(-?\d+))?[ \t]*$/.exec(tail);
    if (!parts) fail('expected a value (and an optional timestamp) after the series');
    const value = parseFloatGo(parts![1]!);
    if (value === null) fail(`bad value "${parts![1]}"`);

    // The family: the series name itself, or the histogram/summary it is a _bucket/_sum/_count of.
    let family = families.get(name);
    const suffix = /_(bucket|sum|count)$/.exec(name);
    if ((!family || family.type === 'untyped') && suffix) {
      const base = families.get(name.slice(0, -suffix[0].length));
      if (base && (base.type === 'histogram' || (base.type === 'summary' && suffix[1] !== 'bucket'))) family = base;
    }
    family ??= familyOf(name);
    enter(family, lineNo, line);
    if (family.type === 'histogram' && name === family.name) fail(`histogram ${family.name} has a sample without _bucket/_sum/_count`);
    if ((family.type === 'histogram' && suffix?.[1] === 'bucket') !== ('le' in labels)) fail('"le" belongs on histogram buckets only');
    if (family.type === 'counter' && !(value! >= 0)) fail('a counter must be a non-negative number');
    const key = seriesKey(name, labels);
    if (series.has(key)) fail(`duplicate series ${key}`);
    series.add(key);
    family.samples.push({ name, labels, value: value! });
  });

  for (const family of families.values()) if (family.type === 'histogram') checkHistogram(family);
  return [...families.values()];
}

function checkHistogram(family: Family): void {
  const groups = new Map<string, { buckets: Array<[number, number]>; count?: number; sum?: number }>();
  for (const s of family.samples) {
    const { le, ...rest } = s.labels;
    const key = seriesKey('', rest);
    const group = groups.get(key) ?? { buckets: [] };
    groups.set(key, group);
    if (s.name.endsWith('_bucket')) {
      const bound = parseFloatGo(le!);
      if (bound === null || Number.isNaN(bound)) throw new Error(`histogram ${family.name}: bad le "${le}"`);
      group.buckets.push([bound, s.value]);
    } else if (s.name.endsWith('_count')) group.count = s.value;
    else group.sum = s.value;
  }
  for (const [key, g] of groups) {
    g.buckets.sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < g.buckets.length; i++) {
      if (g.buckets[i]![1] < g.buckets[i - 1]![1]) throw new Error(`histogram ${family.name}${key}: buckets are not cumulative`);
    }
    const last = g.buckets.at(-1);
    if (!last || last[0] !== Infinity) throw new Error(`histogram ${family.name}${key}: no +Inf bucket`);
    if (g.count !== last[1]) throw new Error(`histogram ${family.name}${key}: _count ${g.count} differs from the +Inf bucket ${last[1]}`);
    if (g.sum === undefined) throw new Error(`histogram ${family.name}${key}: no _sum`);
  }
}

/** A parsed scrape with the lookups tests need. */
export class Scrape {
  readonly byName: Map<string, Family>;
  constructor(readonly families: Family[]) {
    this.byName = new Map(families.map((f) => [f.name, f]));
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  family(name: string): Family {
    const family = this.byName.get(name);
    if (!family) throw new Error(`no metric ${name}; have: ${[...this.byName.keys()].join(', ')}`);
    return family;
  }

  /**
   * Sum over the series of `name` whose labels include `labels`: values for counters and gauges,
   * observation counts (`_count`) for histograms; 0 when the metric is absent.
   */
  value(name: string, labels: Record<string, string> = {}): number {
    const family = this.byName.get(name);
    if (!family) return 0;
    const wanted = family.type === 'histogram' || family.type === 'summary' ? `${name}_count` : name;
    return family.samples
      .filter((s) => s.name === wanted && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
      .reduce((sum, s) => sum + s.value, 0);
  }

  labelValues(name: string, label: string): string[] {
    const values = this.family(name).samples.map((s) => s.labels[label]).filter((v): v is string => v !== undefined);
    return [...new Set(values)].sort();
  }

  /** Series of `name` (for histograms: distinct label sets of `_count`). */
  seriesCount(name: string): number {
    const family = this.family(name);
    return family.type === 'histogram' ? family.samples.filter((s) => s.name === `${name}_count`).length : family.samples.length;
  }
}

/** Parses and checks the conventions every Model Router metric follows. */
export function parseMetricsText(text: string): Scrape {
  const families = parsePrometheusText(text);
  for (const family of families) {
    if (!family.name.startsWith('model_router_')) throw new Error(`metric ${family.name} lacks the model_router_ prefix`);
    if (!family.help) throw new Error(`metric ${family.name} has no HELP`);
    if (family.type === 'untyped') throw new Error(`metric ${family.name} has no TYPE`);
  }
  return new Scrape(families);
}

/** GET `${baseUrl}/metrics`, checked and parsed. */
export async function scrape(baseUrl: string): Promise<Scrape> {
  const res = await fetch(`${baseUrl}/metrics`);
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
  const type = res.headers.get('content-type') ?? '';
  if (!type.startsWith('text/plain') || !type.includes('version=0.0.4')) throw new Error(`/metrics content type is "${type}"`);
  return parseMetricsText(await res.text());
}
