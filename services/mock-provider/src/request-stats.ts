/**
 * What the mock saw, for tests and benches: requests by model and surface, how they ended, and how
 * many the client abandoned before the answer was complete (a gateway must abort upstream calls
 * whose client left: this count is how a test sees it did).
 */
import type { WireApi } from './wire/wire-format.js';

export type RequestOutcome = 'ok' | 'failed' | 'aborted';

export interface ModelStats {
  requests: number;
  in_flight: number;
  ok: number;
  failed: number;
  aborted: number;
}

const empty = (): ModelStats => ({ requests: 0, in_flight: 0, ok: 0, failed: 0, aborted: 0 });

export class RequestStats {
  private total = empty();
  private byApi = new Map<WireApi, ModelStats>();
  private byModel = new Map<string, ModelStats>();

  private entries(api: WireApi, model: string): ModelStats[] {
    let a = this.byApi.get(api);
    if (!a) this.byApi.set(api, (a = empty()));
    let m = this.byModel.get(model);
    if (!m) this.byModel.set(model, (m = empty()));
    return [this.total, a, m];
  }

  started(api: WireApi, model: string): void {
    for (const entry of this.entries(api, model)) {
      entry.requests += 1;
      entry.in_flight += 1;
    }
  }

  ended(api: WireApi, model: string, outcome: RequestOutcome): void {
    for (const entry of this.entries(api, model)) {
      entry.in_flight -= 1;
      entry[outcome] += 1;
    }
  }

  snapshot() {
    return {
      ...this.total,
      by_api: Object.fromEntries(this.byApi),
      by_model: Object.fromEntries([...this.byModel.entries()].sort(([a], [b]) => a.localeCompare(b))),
    };
  }

  /** Forgets finished requests; requests still in flight stay counted as in flight. */
  reset(): void {
    const keep = (stats: ModelStats): ModelStats => ({ ...empty(), in_flight: stats.in_flight });
    this.total = keep(this.total);
    this.byApi = new Map([...this.byApi].filter(([, s]) => s.in_flight > 0).map(([k, s]) => [k, keep(s)]));
    this.byModel = new Map([...this.byModel].filter(([, s]) => s.in_flight > 0).map(([k, s]) => [k, keep(s)]));
  }
}
