/**
 * Support for the consumers' dead-letter tests (metric aggregator, budget enforcer): jobs thrown
 * straight at a BullMQ queue, waiting for it to drain, and reading back what was dead-lettered.
 */
import { createHash } from 'node:crypto';
import type { Pool } from '@model-router/database';
import { waitUntil } from './wait.js';

/** The part of a BullMQ queue these helpers read (tests/ does not depend on bullmq itself). */
export interface CountsJobs {
  getJobCounts(...types: string[]): Promise<Record<string, number>>;
}

/** Waits until every queue has nothing waiting, running or scheduled for retry. */
export async function waitForQueuesDrained(queues: readonly CountsJobs[], timeoutMs = 30_000): Promise<void> {
  await waitUntil(
    async () => {
      for (const queue of queues) {
        const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
        if (Object.values(counts).some((n) => n > 0)) return false;
      }
      return true;
    },
    { timeoutMs, detail: async () => JSON.stringify(await Promise.all(queues.map((q) => q.getJobCounts()))) },
  );
}

/** The event as the worker reads it back from the job (BullMQ stores JSON), fingerprinted as the table does. */
export const eventFingerprint = (event: unknown): string =>
  createHash('sha256').update(JSON.stringify(JSON.parse(JSON.stringify(event)))).digest('hex');

/** The service's dead-letter counter for one consumer and event, read from its /metrics. */
export async function deadLetterCount(serviceUrl: string, consumer: string, event: string): Promise<number> {
  const text = await (await fetch(`${serviceUrl}/metrics`)).text();
  const line = new RegExp(`model_router_dead_letter_events_total\\{[^}]*consumer="${consumer}"[^}]*event="${event}"[^}]*\\} (\\d+)`).exec(text);
  return Number(line?.[1] ?? 0);
}

/** Cuts `items` into jobs whose sizes cycle through `sizes`. */
export function cutIntoJobs<T>(items: readonly T[], sizes: readonly number[]): T[][] {
  const jobs: T[][] = [];
  for (let from = 0, k = 0; from < items.length; k++) {
    const size = sizes[k % sizes.length]!;
    jobs.push(items.slice(from, from + size));
    from += size;
  }
  return jobs;
}

export interface DeadLetterRow {
  fingerprint: string;
  consumer: string;
  queue: string;
  event_name: string;
  error: string;
}

/** The dead-letter rows whose fingerprint is one of these events'. */
export async function deadLettersOf(pool: Pool, events: readonly unknown[]): Promise<DeadLetterRow[]> {
  const { rows } = await pool.query<DeadLetterRow>(
    `SELECT fingerprint, consumer, queue, event_name, error FROM model_router.dead_letter_events WHERE fingerprint = ANY($1)`,
    [events.map(eventFingerprint)],
  );
  return rows;
}
