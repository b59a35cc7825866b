import type { UsageRepository } from '@model-router/database';
import { nanosToUsd } from '@model-router/domain';
import { ApiError, validationError } from '@model-router/http';
import express, { type RequestHandler, type Router } from 'express';
import { MAX_USAGE_SPAN_MS, usageQuerySchema } from './usage.schema.js';

export interface UsageRoutesDeps {
  usage: UsageRepository;
  clock: () => number;
  requireReader: RequestHandler;
}

const DAY_MS = 86_400_000;

/**
 * GET /api/v1/usage?from=&to=&group_by=model|provider|user|key|day|hour: request counts, tokens and
 * cost of the reported metrics in [from, to) (default: the 24 hours up to now). Days and hours are
 * UTC. Time groups come oldest first; the others by cost, highest first.
 */
export function usageRoutes(deps: UsageRoutesDeps): Router {
  const router = express.Router();
  router.get('/usage', deps.requireReader, async (req, res) => {
    const parsed = usageQuerySchema.safeParse(req.query);
    if (!parsed.success) throw validationError(parsed.error, 'query');
    const query = parsed.data;
    const to = query.to !== undefined ? new Date(query.to) : new Date(deps.clock());
    const from = query.from !== undefined ? new Date(query.from) : new Date(to.getTime() - DAY_MS);
    if (from.getTime() >= to.getTime()) {
      throw new ApiError('VALIDATION_ERROR', `invalid query: from (${from.toISOString()}) must be before to (${to.toISOString()})`, [
        { path: 'from', message: 'must be before to' },
      ]);
    }
    if (to.getTime() - from.getTime() > MAX_USAGE_SPAN_MS) {
      throw new ApiError('VALIDATION_ERROR', 'invalid query: the range from … to must not exceed 400 days', [
        { path: 'to', message: 'at most 400 days after from' },
      ]);
    }
    const rows = await deps.usage.usage(query.group_by, from, to);
    const byTime = query.group_by === 'day' || query.group_by === 'hour';
    rows.sort((a, b) => {
      if (!byTime && a.cost_nanos !== b.cost_nanos) return b.cost_nanos - a.cost_nanos;
      const ka = a.key ?? '';
      const kb = b.key ?? '';
      return ka < kb ? -1 : ka > kb ? 1 : 0;
    });
    res.json({
      from: from.toISOString(),
      to: to.toISOString(),
      group_by: query.group_by,
      rows: rows.map((r) => ({
        key: r.key,
        request_count: r.request_count,
        success_count: r.success_count,
        prompt_tokens: r.prompt_tokens,
        completion_tokens: r.completion_tokens,
        cost_usd: nanosToUsd(r.cost_nanos),
      })),
    });
  });
  return router;
}
