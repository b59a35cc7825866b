import { countPromptTokens, estimateCost, type Model } from '@model-router/domain';
import { ApiError, validationError } from '@model-router/http';
import express, { type RequestHandler, type Router } from 'express';
import type { SnapshotStore } from '../state/snapshot-store.js';
import { costEstimateSchema } from './cost.schema.js';

export interface CostRoutesDeps {
  snapshots: SnapshotStore;
  requireClient: RequestHandler;
}

/** Why a model cannot serve the request at all (the static filters of routing), or null. */
function ineligible(model: Model, promptTokens: number, maxTokens: number): string | null {
  if (!model.enabled) return 'disabled';
  if (promptTokens + maxTokens > model.context_window) return 'context_window_exceeded';
  if (maxTokens > model.max_output_tokens) return 'max_output_tokens_exceeded';
  return null;
}

/**
 * POST /api/v1/cost/estimate: the most the request can cost on each eligible model, cheapest
 * first — prompt tokens at the input price plus max_tokens at the output price, by the same
 * `estimateCost` (and the same tokenizer) /route reports as `estimated_cost`.
 */
export function costRoutes(deps: CostRoutesDeps): Router {
  const router = express.Router();
  router.post('/cost/estimate', deps.requireClient, (req, res) => {
    const parsed = costEstimateSchema.safeParse(req.body);
    if (!parsed.success) throw validationError(parsed.error);
    const body = parsed.data;
    const promptTokens = body.prompt_tokens ?? countPromptTokens(body.prompt!);
    const { models, modelsById } = deps.snapshots.current;

    let candidates: readonly Model[] = models;
    if (body.model_ids) {
      const unknown = body.model_ids.filter((id) => !modelsById.has(id));
      if (unknown.length) {
        throw new ApiError(
          'MODEL_NOT_FOUND',
          `unknown model "${unknown[0]}"${unknown.length > 1 ? ` and ${unknown.length - 1} more` : ''}`,
          unknown.map((id) => ({ path: `model_ids.${body.model_ids!.indexOf(id)}`, message: `model "${id}" does not exist` })),
        );
      }
      candidates = [...new Set(body.model_ids)].map((id) => modelsById.get(id)!);
    }

    const estimates = [];
    const excluded = [];
    for (const model of candidates) {
      const reason = ineligible(model, promptTokens, body.max_tokens);
      if (reason) {
        excluded.push({ model_id: model.id, reason });
        continue;
      }
      estimates.push({
        model_id: model.id,
        model_name: model.name,
        provider: model.provider,
        ...estimateCost(model, promptTokens, body.max_tokens),
        input_price_per_1k: model.input_price_per_1k,
        output_price_per_1k: model.output_price_per_1k,
      });
    }
    estimates.sort((a, b) => a.estimated_cost - b.estimated_cost || (a.model_id < b.model_id ? -1 : a.model_id > b.model_id ? 1 : 0));
    res.json({ prompt_tokens: promptTokens, max_tokens: body.max_tokens, estimates, excluded });
  });
  return router;
}
