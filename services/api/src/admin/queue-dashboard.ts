import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { Queue } from 'bullmq';
import { ApiError } from '@model-router/http';
import type { RequestHandler, Router } from 'express';

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

/**
 * bull-board for whoever the key says: the admin key gets the full board (retry, clean, remove…),
 * the read-only key a board in read-only mode, and any request of the read-only key that is not a
 * read (GET or HEAD) is refused with 403 before bull-board sees it. Mount behind
 * `requireApiKeyOfRole({ admin, readonly })`.
 */
export function queueDashboardByRole(queues: readonly Queue[]): RequestHandler {
  const full = queueDashboard(queues, false);
  const readOnly = queueDashboard(queues, true);
  return (req, res, next) => {
    if (res.locals.apiKeyRole === 'admin') {
      full(req, res, next);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      next(new ApiError('FORBIDDEN', 'the read-only key cannot change queues'));
      return;
    }
    readOnly(req, res, next);
  };
}
