import type { Queryable } from './model.repository.js';

/**
 * Usage over any time range, exact to the event: whole UTC hours come from the hour rollups, the
 * whole minutes around them from the minute rollups, and the partial minutes at the two ends from
 * the raw metric events, all written by the metric aggregator in one transaction per batch (so the
 * three sources always agree). Usage per API key reads the key rollups the same way (model_rollups'
 * twin, migrations/1764500000001_key-usage-rollups.sql). Per-user usage comes from the raw events
 * only (no rollup carries users), so it reaches back as far as raw retention (retention.raw_events_days).
 */

export const USAGE_GROUPS = ['model', 'provider', 'user', 'key', 'day', 'hour'] as const;
export type UsageGroup = (typeof USAGE_GROUPS)[number];

type RollupGroup = Exclude<UsageGroup, 'user'>;

export interface UsageRow {
  /**
   * The group's value: a model id, a provider, a user id (null: metrics without one), an API key id
   * (the events' `key_id`), a UTC day or hour.
   */
  key: string | null;
  request_count: number;
  success_count: number;
  prompt_tokens: number;
  completion_tokens: number;
  cost_nanos: number;
}

type Source = 'hour' | 'minute' | 'raw';
interface Segment {
  source: Source;
  from: number;
  to: number;
}

const MINUTE = 60_000;
const HOUR = 3_600_000;
const floorTo = (ms: number, unit: number): number => Math.floor(ms / unit) * unit;
const ceilTo = (ms: number, unit: number): number => Math.ceil(ms / unit) * unit;

/** Splits [from, to) into raw ends, minute-rollup ends and hour-rollup middle; empty parts dropped. */
export function usageSegments(from: number, to: number): Segment[] {
  const segments: Segment[] = [];
  const push = (source: Source, lo: number, hi: number): void => {
    if (lo < hi) segments.push({ source, from: lo, to: hi });
  };
  const minuteFrom = ceilTo(from, MINUTE);
  const minuteTo = floorTo(to, MINUTE);
  if (minuteFrom >= minuteTo) {
    push('raw', from, to);
    return segments;
  }
  push('raw', from, minuteFrom);
  push('raw', minuteTo, to);
  const hourFrom = ceilTo(minuteFrom, HOUR);
  const hourTo = floorTo(minuteTo, HOUR);
  if (hourFrom >= hourTo) {
    push('minute', minuteFrom, minuteTo);
    return segments;
  }
  push('minute', minuteFrom, hourFrom);
  push('minute', hourTo, minuteTo);
  push('hour', hourFrom, hourTo);
  return segments;
}

/** The group's value in a raw event or rollup row (`time`: the row's time column). */
const KEY: Record<RollupGroup, (time: string) => string> = {
  model: () => 'model_id',
  provider: () => 'provider',
  key: () => 'key_id',
  day: (time) => `to_char(${time} AT TIME ZONE 'UTC', 'YYYY-MM-DD')`,
  hour: (time) => `to_char(date_trunc('hour', ${time} AT TIME ZONE 'UTC'), 'YYYY-MM-DD"T"HH24:00:00"Z"')`,
};

export class UsageRepository {
  constructor(private readonly db: Queryable) {}

  /** Usage in [from, to) grouped by `group`; rows in no particular order. */
  async usage(group: UsageGroup, from: Date, to: Date): Promise<UsageRow[]> {
    const params: unknown[] = [];
    const param = (value: unknown): string => {
      params.push(value);
      return `$${params.length}`;
    };
    const parts: string[] = [];
    const segments = group === 'user' ? [{ source: 'raw' as const, from: from.getTime(), to: to.getTime() }] : usageSegments(from.getTime(), to.getTime());
    // Usage by key sums the key rollups; the other groups the model rollups.
    const rollups = group === 'key' ? 'key_rollups' : 'model_rollups';
    for (const s of segments) {
      const lo = param(new Date(s.from));
      const hi = param(new Date(s.to));
      if (s.source === 'raw') {
        const key = group === 'user' ? 'user_id' : KEY[group]('occurred_at');
        parts.push(`SELECT ${key} AS key, count(*) AS request_count, count(*) FILTER (WHERE success) AS success_count,
            sum(prompt_tokens) AS prompt_tokens, sum(completion_tokens) AS completion_tokens, sum(cost_nanos) AS cost_nanos
          FROM model_router.metric_events WHERE occurred_at >= ${lo} AND occurred_at < ${hi} GROUP BY 1`);
      } else {
        const key = KEY[group as RollupGroup]('bucket_start');
        parts.push(`SELECT ${key} AS key, sum(request_count) AS request_count, sum(success_count) AS success_count,
            sum(prompt_tokens_sum) AS prompt_tokens, sum(completion_tokens_sum) AS completion_tokens, sum(cost_nanos_sum) AS cost_nanos
          FROM model_router.${rollups}
          WHERE granularity = ${param(s.source)} AND bucket_start >= ${lo} AND bucket_start < ${hi} GROUP BY 1`);
      }
    }
    const { rows } = await this.db.query(
      `SELECT key, sum(request_count) AS request_count, sum(success_count) AS success_count, sum(prompt_tokens) AS prompt_tokens,
              sum(completion_tokens) AS completion_tokens, sum(cost_nanos) AS cost_nanos
       FROM (${parts.join('\nUNION ALL\n')}) AS parts GROUP BY key`,
      params,
    );
    return rows.map((row) => ({
      key: (row.key as string | null) ?? null,
      request_count: Number(row.request_count),
      success_count: Number(row.success_count),
      prompt_tokens: Number(row.prompt_tokens),
      completion_tokens: Number(row.completion_tokens),
      cost_nanos: Number(row.cost_nanos),
    }));
  }
}
