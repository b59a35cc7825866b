import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { usageSegments } from '@model-router/database';
import request from 'supertest';
import { type Harness, startHarness } from './harness.js';
import { expectedUsage, type PostedUsage, startUsageAggregator, type UsageAggregator, usageRanges } from './usage-fixtures.js';

let h: Harness;
let aggregator: UsageAggregator;

const HOUR = 3_600_000;
const MODELS: Array<[string, string]> = [
  ['gpt-4o', 'openai'],
  ['gpt-4o-mini', 'openai'],
  ['claude-haiku-4-5', 'anthropic'],
  ['gemini-2.5-flash', 'google'],
];
const USERS = ['u1', 'u2', 'u3', undefined];

interface Posted extends PostedUsage {
  model_id: string;
  provider: string;
  user_id: string | undefined;
}

// 300 metrics over ~36 hours, at uneven instants (seconds and milliseconds), so ranges cut through
// hours and minutes and every source (hour rollups, minute rollups, raw events) is needed.
// ~36 hours of metrics ending ~4 hours ago: inside the ingestion window (7 days back, 5 minutes ahead).
const base = Math.floor(Date.now() / HOUR) * HOUR - 40 * HOUR;
const posted: Posted[] = Array.from({ length: 300 }, (_, i) => {
  const [model_id, provider] = MODELS[i % MODELS.length]!;
  return {
    at: base + i * (7 * 60_000 + 13_000) + i * 37,
    model_id,
    provider,
    user_id: USERS[i % USERS.length],
    success: i % 7 !== 0,
    prompt_tokens: 100 + i,
    completion_tokens: 50 + ((i * 13) % 400),
    // Costs in whole nano-dollars, some with 9 significant decimals.
    cost_nanos: 1_000_003 * (1 + (i % 11)) + i,
  };
});

function groupKey(group: string, p: Posted): string | null {
  const iso = new Date(p.at).toISOString();
  return group === 'model' ? p.model_id : group === 'provider' ? p.provider : group === 'user' ? (p.user_id ?? null) : group === 'day' ? iso.slice(0, 10) : `${iso.slice(0, 13)}:00:00Z`;
}

const expected = (group: string, from: number, to: number) => expectedUsage(posted, (p) => groupKey(group, p), from, to);

beforeAll(async () => {
  h = await startHarness();
  aggregator = await startUsageAggregator(h);
  for (let i = 0; i < posted.length; i += 100) {
    const metrics = posted.slice(i, i + 100).map((p, j) => ({
      event_id: `usage-${i + j}`,
      timestamp: new Date(p.at).toISOString(),
      model_id: p.model_id,
      success: p.success,
      latency_ms: 100 + j,
      prompt_tokens: p.prompt_tokens,
      completion_tokens: p.completion_tokens,
      cost: p.cost_nanos / 1e9,
      ...(p.user_id ? { user_id: p.user_id } : {}),
    }));
    await request(h.api.app).post('/api/v1/metrics').send({ metrics }).expect(202);
  }
  await aggregator.persisted(posted.length);
});
afterAll(async () => {
  await aggregator.stop();
  await h.stop();
});

const ranges = usageRanges(base);

describe('GET /api/v1/usage', () => {
  it.each(['model', 'provider', 'user', 'day', 'hour'])('totals by %s equal the posted metrics, for every range', async (group) => {
    for (const [, from, to] of ranges) {
      const res = await request(h.api.app)
        .get('/api/v1/usage')
        .query({ from: new Date(from).toISOString(), to: new Date(to).toISOString(), group_by: group })
        .expect(200);
      expect(res.body.from).toBe(new Date(from).toISOString());
      expect(res.body.to).toBe(new Date(to).toISOString());
      expect(res.body.group_by).toBe(group);
      const rows = [...res.body.rows].sort((a, b) => String(a.key).localeCompare(String(b.key)));
      expect(rows).toEqual(expected(group, from, to));
    }
  });

  it('answers time groups oldest first and the others by cost, highest first', async () => {
    const q = { from: new Date(base - HOUR).toISOString(), to: new Date(base + 40 * HOUR).toISOString() };
    const hours = (await request(h.api.app).get('/api/v1/usage').query({ ...q, group_by: 'hour' }).expect(200)).body.rows.map((r: { key: string }) => r.key);
    expect(hours).toEqual([...hours].sort());
    const models = (await request(h.api.app).get('/api/v1/usage').query({ ...q, group_by: 'model' }).expect(200)).body.rows.map((r: { cost_usd: number }) => r.cost_usd);
    expect(models).toEqual([...models].sort((a, b) => b - a));
  });

  it('defaults to the last 24 hours by model', async () => {
    const res = await request(h.api.app).get('/api/v1/usage').expect(200);
    expect(res.body.group_by).toBe('model');
    expect(Date.parse(res.body.to) - Date.parse(res.body.from)).toBe(24 * HOUR);
  });

  const bad: Array<[string, Record<string, string>]> = [
    ['from after to', { from: '2026-01-02T00:00:00Z', to: '2026-01-01T00:00:00Z' }],
    ['from equal to to', { from: '2026-01-01T00:00:00Z', to: '2026-01-01T00:00:00Z' }],
    ['unknown group_by', { group_by: 'team' }],
    ['a date that is not a date', { from: 'yesterday' }],
    ['a range over 400 days', { from: '2024-01-01T00:00:00Z', to: '2026-01-01T00:00:00Z' }],
    ['an unknown parameter', { fromm: '2026-01-01T00:00:00Z' }],
  ];
  it.each(bad)('%s → 400 VALIDATION_ERROR', async (_name, query) => {
    const res = await request(h.api.app).get('/api/v1/usage').query(query).expect(400);
    expect(res.body.error.code).toBe('VALIDATION_ERROR');
  });
});

describe('usageSegments', () => {
  it('covers [from, to) exactly once with raw ends, minute ends and whole hours', () => {
    const from = Date.parse('2026-01-01T10:07:30.250Z');
    const to = Date.parse('2026-01-01T13:44:10.000Z');
    const segments = usageSegments(from, to).sort((a, b) => a.from - b.from);
    expect(segments.map((s) => [s.source, new Date(s.from).toISOString(), new Date(s.to).toISOString()])).toEqual([
      ['raw', '2026-01-01T10:07:30.250Z', '2026-01-01T10:08:00.000Z'],
      ['minute', '2026-01-01T10:08:00.000Z', '2026-01-01T11:00:00.000Z'],
      ['hour', '2026-01-01T11:00:00.000Z', '2026-01-01T13:00:00.000Z'],
      ['minute', '2026-01-01T13:00:00.000Z', '2026-01-01T13:44:00.000Z'],
      ['raw', '2026-01-01T13:44:00.000Z', '2026-01-01T13:44:10.000Z'],
    ]);
    expect(usageSegments(Date.parse('2026-01-01T10:07:30Z'), Date.parse('2026-01-01T10:07:40Z'))).toEqual([
      { source: 'raw', from: Date.parse('2026-01-01T10:07:30Z'), to: Date.parse('2026-01-01T10:07:40Z') },
    ]);
  });
});
