/**
 * How a circuit breaker's state is kept in a Redis hash: one field per scalar, the window's
 * buckets as a JSON array of `[start, successes, failures, latency_ms_sum]`, and next to the state
 * what was last announced to replicas (`health`, with the state's `circuit` and `retry_at`).
 */
import {
  CIRCUIT_STATES,
  type CircuitBreakerState,
  type CircuitState,
  HEALTH_STATES,
  type HealthState,
  INITIAL_CIRCUIT,
  type WindowBucket,
} from '@model-router/domain';
import { redisKeys } from '@model-router/redis';
import { z } from 'zod';

export const circuitKey = (prefix: string, modelId: string): string => redisKeys(prefix).circuit(modelId);
export const runtimeChannel = (prefix: string): string => redisKeys(prefix).runtimeChannel;

/** The fields of the hash that hold the state and the announcement (not `updated_at`). */
export type EncodedCircuit = Record<
  | 'circuit'
  | 'opened_at'
  | 'retry_at'
  | 'half_open_at'
  | 'consecutive_failures'
  | 'half_open_trials'
  | 'half_open_successes'
  | 'buckets'
  | 'changed_at'
  | 'health',
  string
>;

const time = (value: number | null): string => (value === null ? '' : String(value));

export function encodeCircuit(state: CircuitBreakerState, health: HealthState): EncodedCircuit {
  return {
    circuit: state.circuit,
    opened_at: time(state.opened_at),
    retry_at: time(state.retry_at),
    half_open_at: time(state.half_open_at),
    consecutive_failures: String(state.consecutive_failures),
    half_open_trials: String(state.half_open_trials),
    half_open_successes: String(state.half_open_successes),
    buckets: JSON.stringify(state.buckets.map((b) => [b.start, b.successes, b.failures, b.latency_ms_sum])),
    changed_at: time(state.changed_at),
    health,
  };
}

export function sameEncoding(a: EncodedCircuit, b: Partial<Record<string, string>>): boolean {
  return (Object.keys(a) as (keyof EncodedCircuit)[]).every((field) => a[field] === b[field]);
}

const count = z.coerce.number().int().nonnegative();
const nullableTime = z.string().transform((v, ctx) => {
  if (v === '') return null;
  const n = Number(v);
  if (!Number.isFinite(n)) {
    ctx.addIssue({ code: 'custom', message: 'not a time' });
    return z.NEVER;
  }
  return n;
});
const bucketsSchema = z.string().transform((v, ctx): WindowBucket[] => {
  try {
    const rows = z.array(z.tuple([z.number(), count, count, z.number().nonnegative()])).parse(JSON.parse(v));
    return rows.map(([start, successes, failures, latency_ms_sum]) => ({ start, successes, failures, latency_ms_sum }));
  } catch {
    ctx.addIssue({ code: 'custom', message: 'not a list of buckets' });
    return z.NEVER;
  }
});

const storedSchema = z.object({
  circuit: z.enum(CIRCUIT_STATES),
  opened_at: nullableTime,
  retry_at: nullableTime,
  half_open_at: nullableTime,
  consecutive_failures: count,
  half_open_trials: count,
  half_open_successes: count,
  buckets: bucketsSchema,
  changed_at: nullableTime,
  health: z.enum(HEALTH_STATES),
});

export interface StoredCircuit {
  state: CircuitBreakerState;
  /** What replicas were last told; a model never stored was never announced: closed, unknown. */
  announced: { circuit: CircuitState; health: HealthState; retry_at: number | null };
}

const NEVER_ANNOUNCED: StoredCircuit['announced'] = Object.freeze({ circuit: 'closed', health: 'unknown', retry_at: null });

/**
 * Reads a hash (HGETALL's answer). A missing or unreadable hash is a fresh closed circuit: a
 * corrupt entry must never keep a model out of routing.
 */
export function decodeCircuit(raw: Record<string, string> | null | undefined): StoredCircuit {
  if (!raw || Object.keys(raw).length === 0) return { state: INITIAL_CIRCUIT, announced: NEVER_ANNOUNCED };
  const parsed = storedSchema.safeParse(raw);
  if (!parsed.success) return { state: INITIAL_CIRCUIT, announced: NEVER_ANNOUNCED };
  const { health, ...state } = parsed.data;
  return { state, announced: { circuit: state.circuit, health, retry_at: state.retry_at } };
}
