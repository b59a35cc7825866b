import { validationError } from '@model-router/http';
import express, { type RequestHandler, type Router } from 'express';
import type { MetricIngestion } from './metric-ingestion.js';
import { type MetricInput, metricInputSchema, metricsBatchSchema } from './metric.schema.js';

export interface MetricsRoutesDeps {
  ingestion: MetricIngestion;
  requireClient: RequestHandler;
}

/** Parses a single metric or `{"metrics": [...]}`; the batch shape is chosen by the `metrics` key. */
export function parseMetrics(body: unknown): MetricInput[] {
  const isBatch = typeof body === 'object' && body !== null && !Array.isArray(body) && 'metrics' in body;
  if (isBatch) {
    const parsed = metricsBatchSchema.safeParse(body);
    if (!parsed.success) throw validationError(parsed.error);
    return parsed.data.metrics;
  }
  const parsed = metricInputSchema.safeParse(body);
  if (!parsed.success) throw validationError(parsed.error);
  return [parsed.data];
}

export function metricsRoutes(deps: MetricsRoutesDeps): Router {
  const router = express.Router();
  router.post('/metrics', deps.requireClient, async (req, res) => {
    res.status(202).json(await deps.ingestion.ingest(res, parseMetrics(req.body)));
  });
  return router;
}
