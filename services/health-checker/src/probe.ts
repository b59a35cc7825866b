import { performance } from 'node:perf_hooks';
import type { Model } from '@model-router/domain';

export const PROBE_OUTCOMES = ['ok', 'error', 'timeout', 'unreachable'] as const;
export type ProbeOutcome = (typeof PROBE_OUTCOMES)[number];

export interface ProbeResult {
  /**
   * `ok`: the endpoint answered 2xx, or 401/403 (it is up and wants credentials: the probe sends
   * none, and real providers refuse anonymous calls, which must not open their circuits);
   * `error`: any other status; `timeout`: no answer in time; `unreachable`: no connection.
   */
  outcome: ProbeOutcome;
  latency_ms: number;
  status: number | null;
}

/**
 * The OpenAI-style per-model endpoint: `GET {endpoint}/models/{id}`. Each segment of the id is
 * encoded, so ids such as "meta-llama/Llama-3.1-8B" keep their slash.
 */
export function probeUrl(endpoint: string, modelId: string): string {
  return `${endpoint.replace(/\/+$/, '')}/models/${modelId.split('/').map(encodeURIComponent).join('/')}`;
}

/** The endpoint is up: it answered, or it refused an anonymous caller (401, 403). */
function answered(status: number): boolean {
  return (status >= 200 && status < 300) || status === 401 || status === 403;
}

/** Probes one model's endpoint once; never throws. */
export async function probeModel(
  model: Pick<Model, 'id'> & { endpoint: string },
  timeoutMs: number,
  fetchImpl: typeof fetch = fetch,
): Promise<ProbeResult> {
  const started = performance.now();
  try {
    const res = await fetchImpl(probeUrl(model.endpoint, model.id), {
      headers: { accept: 'application/json' },
      signal: AbortSignal.timeout(timeoutMs),
    });
    // Read the (small) body so the connection can be reused for the next probe.
    await res.arrayBuffer();
    return { outcome: answered(res.status) ? 'ok' : 'error', latency_ms: performance.now() - started, status: res.status };
  } catch (error) {
    const name = (error as { name?: string }).name;
    const outcome: ProbeOutcome = name === 'TimeoutError' || name === 'AbortError' ? 'timeout' : 'unreachable';
    return { outcome, latency_ms: performance.now() - started, status: null };
  }
}

/** Runs `task` over `items`, at most `limit` at a time; resolves when all settled. */
export async function forEachLimit<T>(
  items: readonly T[],
  limit: number,
  task: (item: T) => Promise<void>,
): Promise<PromiseSettledResult<void>[]> {
  const results: PromiseSettledResult<void>[] = new Array(items.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      try {
        await task(items[i]!);
        results[i] = { status: 'fulfilled', value: undefined };
      } catch (reason) {
        results[i] = { status: 'rejected', reason };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return results;
}
