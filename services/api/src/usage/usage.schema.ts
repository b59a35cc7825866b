import { USAGE_GROUPS } from '@model-router/database';
import { z } from 'zod';

// A year and a bit: longer spans belong in an export, not in one request.
export const MAX_USAGE_SPAN_MS = 400 * 86_400_000;

/** Query of GET /api/v1/usage; unknown parameters are refused so a typo is never ignored. */
export const usageQuerySchema = z
  .strictObject({
    from: z.iso.datetime({ offset: true }).optional(),
    to: z.iso.datetime({ offset: true }).optional(),
    group_by: z.enum(USAGE_GROUPS).default('model'),
  });

