import type { Config } from '@model-router/config';
import type { Queue } from 'bullmq';
import { type EventName, JOB_CATALOG, type JobDefinition } from './catalog.js';

/**
 * Upserts the repeat schedule of every scheduled event whose queue is in `queues`: one scheduler id
 * per event for the whole deployment, so every replica upserting it leaves one owner and one tick.
 * The scheduler repeats a fixed payload, checked against the catalog here.
 */
export async function upsertEventSchedules(queues: readonly Queue[], config: Config): Promise<void> {
  for (const name of Object.keys(JOB_CATALOG) as EventName[]) {
    const def: JobDefinition = JOB_CATALOG[name];
    const queue = queues.find((q) => q.name === def.queue);
    if (!def.schedule || !queue) continue;
    const tick = { event_id: def.schedule.id, occurred_at: new Date().toISOString() };
    def.event.parse(tick);
    await queue.upsertJobScheduler(
      def.schedule.id,
      { every: def.schedule.everyMs(config) },
      {
        name,
        data: { events: [tick] },
        opts: { attempts: def.attempts, backoff: def.backoff, removeOnComplete: def.removeOnComplete, removeOnFail: def.removeOnFail },
      },
    );
  }
}
