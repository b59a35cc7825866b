import { randomUUID } from 'node:crypto';
import { type JobBoss, sendJob, type TransactionClient } from './boss.js';
import type { ConfigChangedEvent } from './events.js';

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
  await sendJob(boss, 'config.outbox', event, transaction);
  return event;
}
