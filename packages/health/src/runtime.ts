/**
 * What API replicas need to keep their in-memory view of model health current: a bulk read of
 * every model's circuit, and the channel on which every change of circuit or health is announced.
 */
import {
  CIRCUIT_STATES,
  type CircuitPolicy,
  type CircuitView,
  DEFAULT_CIRCUIT_POLICY,
  DEFAULT_HEALTH_POLICY,
  describeCircuit,
  HEALTH_STATES,
  type HealthPolicy,
} from '@model-router/domain';
import type { RedisClient as Redis } from '@model-router/redis';
import { subscribeJson } from '@model-router/redis';
import { z } from 'zod';
import { circuitKey, decodeCircuit, runtimeChannel } from './circuit.codec.js';

/** One model's circuit and health as of a read. */
export interface ModelCircuitRuntime extends CircuitView {
  model_id: string;
}

export interface RuntimeReadOptions {
  /** The config's `circuit_breaker` section; the domain defaults otherwise. */
  policy?: Partial<CircuitPolicy>;
  health?: Partial<HealthPolicy>;
  /** ms since the epoch; default Date.now(). */
  now?: number;
}

export function resolvePolicies(options: Pick<RuntimeReadOptions, 'policy' | 'health'>): {
  policy: CircuitPolicy;
  health: HealthPolicy;
} {
  return {
    policy: { ...DEFAULT_CIRCUIT_POLICY, ...options.policy },
    health: { ...DEFAULT_HEALTH_POLICY, ...options.health },
  };
}

/**
 * Reads the circuits of `modelIds` in one round trip. A model never recorded is closed with
 * unknown health. An open circuit whose cooldown is over reads as half-open (the transition is
 * lazy), so a replica that loads after the cooldown lets trials through without waiting for a notice.
 */
export async function loadRuntime(
  redis: Redis,
  prefix: string,
  modelIds: readonly string[],
  options: RuntimeReadOptions = {},
): Promise<Map<string, ModelCircuitRuntime>> {
  const result = new Map<string, ModelCircuitRuntime>();
  if (modelIds.length === 0) return result;
  const { policy, health } = resolvePolicies(options);
  // Sent together, not as a pipeline: ioredis writes them back to back (one round trip on a single
  // Redis), and on a cluster each goes to its own key's master, which a pipeline would refuse.
  const replies = await Promise.all(modelIds.map((id) => redis.hgetall(circuitKey(prefix, id))));
  const now = options.now ?? Date.now();
  modelIds.forEach((id, i) => {
    const { state } = decodeCircuit(replies[i]!);
    result.set(id, { model_id: id, ...describeCircuit(state, now, policy, health) });
  });
  return result;
}

/** A change of a model's circuit or health, published on `${prefix}:runtime-changed`. */
export const runtimeChangeSchema = z.object({
  model_id: z.string().min(1),
  circuit: z.enum(CIRCUIT_STATES),
  health: z.enum(HEALTH_STATES),
  /** When an open circuit lets trials through (ms since the epoch); null unless open. */
  retry_at: z.number().nullable(),
  /** When the change was made (ms since the epoch). */
  at: z.number(),
});
export type RuntimeChange = z.infer<typeof runtimeChangeSchema>;

/**
 * Calls `onChange` for each valid notice on the runtime channel, using `subscriber` (a dedicated
 * connection: a subscribed client can run no other commands). Returns an unsubscribe. Notices sent
 * while disconnected are lost: call `loadRuntime` again on every reconnect.
 */
export function subscribeRuntimeChanges(
  subscriber: Redis,
  prefix: string,
  onChange: (change: RuntimeChange) => void,
): Promise<() => Promise<void>> {
  return subscribeJson(subscriber, runtimeChannel(prefix), runtimeChangeSchema, onChange);
}
