import type { Queue } from 'bullmq';
import { ApiError } from '@model-router/http';
import type { RequestHandler, Router } from 'express';

export const QUEUE_DASHBOARD_PATH = '/admin/queues';

/** bull-board over every queue of the catalog; the caller mounts it behind the admin key. */
async function queueDashboard(queues: readonly Queue[], readOnly: boolean): Promise<Router> {
  const [{ createBullBoard }, { BullMQAdapter }, { ExpressAdapter }] = await Promise.all([
    import('@bull-board/api'),
    import('@bull-board/api/bullMQAdapter'),
    import('@bull-board/express'),
  ]);
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
  // bull-board is loaded on the first visit, not at start: with lodash, valibot, yaml and its
  // views it is megabytes of every API process's memory, for a page an operator opens now and then.
  let boards: Promise<{ full: Router; readOnly: Router }> | undefined;
  const load = () =>
    (boards ??= Promise.all([queueDashboard(queues, false), queueDashboard(queues, true)]).then(([full, readOnly]) => ({ full, readOnly })));
  return (req, res, next) => {
    const admin = res.locals.apiKeyRole === 'admin';
    if (!admin && req.method !== 'GET' && req.method !== 'HEAD') {
      next(new ApiError('FORBIDDEN', 'the read-only key cannot change queues'));
      return;
    }
    load().then(
      (board) => (admin ? board.full : board.readOnly)(req, res, next),
      (error: unknown) => {
        boards = undefined;
        next(error);
      },
    );
  };
}
