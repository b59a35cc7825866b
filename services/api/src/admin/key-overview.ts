import type { KeyRepository, UsageRepository } from '@model-router/database';
import { keyRefusal, nanosToUsd } from '@model-router/domain';
import type { KeyView } from './overview.js';

const DAY_MS = 86_400_000;

/**
 * The API keys (tenants) for the operator page, each with today's usage (the UTC day so far, from
 * GET /api/v1/usage?group_by=key's source): every stored key, then every other tenant with usage
 * today (configured client keys, `admin`, `default`). Busiest first.
 */
export function keyOverview(keys: KeyRepository, usage: UsageRepository, clock: () => number): () => Promise<KeyView[]> {
  return async () => {
    const now = clock();
    const dayStart = Math.floor(now / DAY_MS) * DAY_MS;
    // `to` one millisecond on, so an event stamped this very millisecond is in.
    const [stored, rows] = await Promise.all([keys.list(), usage.usage('key', new Date(dayStart), new Date(now + 1))]);
    const today = new Map(rows.map((r) => [r.key, r]));
    const usageOf = (id: string) => {
      const r = today.get(id);
      return {
        requests_today: r?.request_count ?? 0,
        tokens_today: r ? r.prompt_tokens + r.completion_tokens : 0,
        cost_today_usd: r ? nanosToUsd(r.cost_nanos) : 0,
      };
    };
    const views: KeyView[] = stored.map((k) => ({
      id: k.id,
      name: k.name,
      stored: true,
      state: keyRefusal({ enabled: k.enabled, expires_at: k.expires_at === null ? null : Date.parse(k.expires_at) }, now) ?? 'enabled',
      allowed_models: k.allowed_models,
      allowed_providers: k.allowed_providers,
      rpm: k.rpm,
      tpm: k.tpm,
      last_used_at: k.last_used_at,
      ...usageOf(k.id),
    }));
    const storedIds = new Set(stored.map((k) => k.id));
    for (const row of rows) {
      if (row.key === null || storedIds.has(row.key)) continue;
      views.push({
        id: row.key,
        name: null,
        stored: false,
        state: 'configured',
        allowed_models: [],
        allowed_providers: [],
        rpm: null,
        tpm: null,
        last_used_at: null,
        ...usageOf(row.key),
      });
    }
    return views.sort((a, b) => b.cost_today_usd - a.cost_today_usd || b.requests_today - a.requests_today || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  };
}
