import { z } from 'zod';

const MAX_TOKENS_LIMIT = 2_000_000;

/** Body of POST /api/v1/cost/estimate: a prompt (tokenized here) or its token count, not both. */
export const costEstimateSchema = z
  .strictObject({
    prompt: z.string().min(1, 'must not be empty').optional(),
    prompt_tokens: z.number().int().min(0).max(100_000_000).optional(),
    // The same bounds and default as POST /api/v1/route, so both estimate the same request.
    max_tokens: z.number().int().min(1).max(MAX_TOKENS_LIMIT).default(1024),
    model_ids: z.array(z.string().min(1).max(128)).min(1).max(500).optional(),
  })
  .superRefine((body, ctx) => {
    if ((body.prompt === undefined) === (body.prompt_tokens === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['prompt'], message: 'give either prompt or prompt_tokens (exactly one)' });
    }
  });

