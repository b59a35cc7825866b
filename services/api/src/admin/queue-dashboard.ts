import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { Queue } from 'bullmq';
import type { Router } from 'express';

export const QUEUE_DASHBOARD_PATH = '/admin/queues';

/** bull-board over every queue of the catalog; the caller mounts it behind the admin key. */
export function queueDashboard(queues: readonly Queue[], readOnly = false): Router {
  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath(QUEUE_DASHBOARD_PATH);
  createBullBoard({
    queues: queues.map((queue) => new BullMQAdapter(queue, { readOnlyMode: readOnly })),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'Model Router queues' } },
  });
  return serverAdapter.getRouter() as Router;
}
