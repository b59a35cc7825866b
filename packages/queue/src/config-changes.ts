import { randomUUID } from 'node:crypto';
import { keys, type RedisClient, subscribeJson } from '@model-router/redis';
import { type JobBoss, sendJob, type TransactionClient } from './boss.js';
import { type ConfigChangedEvent, configChangedEvent } from './events.js';

/**
 * A config change takes one path: the producer writes the `config.changed` fact to the outbox in
 * the transaction of the change (sendConfigChange); the cache-invalidator, its one relay, drops the
 * caches it concerns and publishes the same fact on the config channel (publishConfigChange); every
 * API replica refreshes on it (subscribeConfigChanges). One schema, configChangedEvent, throughout.
 */

/** What changed: the entity, its id and the action. */
export type ConfigChange = Pick<ConfigChangedEvent, 'entity' | 'entity_id' | 'action'>;

/**
 * The one outbox writer: records a config change as a `config.changed` fact in the outbox, through
 * the caller's transaction, so the change and its announcement commit (or roll back) together.
 */
export async function sendConfigChange(
  boss: JobBoss,
  transaction: TransactionClient,
  change: ConfigChange,
  occurredAt: Date = new Date(),
): Promise<ConfigChangedEvent> {
  const event: ConfigChangedEvent = { event_id: randomUUID(), occurred_at: occurredAt.toISOString(), ...change };
  await sendJob(boss, 'config.changed', event, transaction);
  return event;
}

/** Tells every API replica of a relayed change (Redis pub/sub on the config channel). */
export async function publishConfigChange(redis: RedisClient, prefix: string, event: ConfigChangedEvent): Promise<void> {
  await redis.publish(keys(prefix).configChannel, JSON.stringify(event));
}

/** Calls `onChange` for each valid change notice on the config channel (see subscribeJson). */
export function subscribeConfigChanges(
  subscriber: RedisClient,
  prefix: string,
  onChange: (change: ConfigChangedEvent) => void,
): Promise<() => Promise<void>> {
  return subscribeJson(subscriber, keys(prefix).configChannel, configChangedEvent, onChange);
}
