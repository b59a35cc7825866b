import { ApiError, type ErrorCode, fromBodyParser } from '@model-router/http';
import type { Logger } from '@model-router/logger';
import type { ErrorRequestHandler } from 'express';
import type { ZodError } from 'zod';

/**
 * An error on the gateway's OpenAI-compatible paths, answered in OpenAI's shape
 * `{"error": {"message", "type", "code", "param"}}` so official clients raise their own typed errors
 * (BadRequestError, NotFoundError, RateLimitError…) instead of failing to parse ours.
 */
export class OpenAIError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type: string,
    readonly code: string | null = null,
    readonly param: string | null = null,
    readonly headers?: Record<string, string>,
  ) {
    super(message);
  }

  body() {
    return { error: { message: this.message, type: this.type, code: this.code, param: this.param } };
  }
}

/** OpenAI's `type` and `code` for each of the project's error codes. */
const FROM_API_ERROR: Record<ErrorCode, { type: string; code: string }> = {
  INVALID_JSON: { type: 'invalid_request_error', code: 'invalid_json' },
  VALIDATION_ERROR: { type: 'invalid_request_error', code: 'invalid_request' },
  UNAUTHORIZED: { type: 'authentication_error', code: 'invalid_api_key' },
  FORBIDDEN: { type: 'permission_error', code: 'forbidden' },
  NOT_FOUND: { type: 'invalid_request_error', code: 'unknown_url' },
  MODEL_NOT_FOUND: { type: 'invalid_request_error', code: 'model_not_found' },
  AB_TEST_NOT_FOUND: { type: 'invalid_request_error', code: 'ab_test_not_found' },
  BUDGET_NOT_FOUND: { type: 'invalid_request_error', code: 'budget_not_found' },
  INVALID_TRANSITION: { type: 'invalid_request_error', code: 'conflict' },
  CONFLICT: { type: 'invalid_request_error', code: 'conflict' },
  PAYLOAD_TOO_LARGE: { type: 'invalid_request_error', code: 'payload_too_large' },
  UNSUPPORTED_MEDIA_TYPE: { type: 'invalid_request_error', code: 'unsupported_media_type' },
  // OpenAI answers a spent quota with 429 insufficient_quota: clients know not to retry at once.
  BUDGET_EXCEEDED: { type: 'insufficient_quota', code: 'budget_exceeded' },
  // OpenAI's own rate-limit error: type "requests" or "tokens" (the limit reached), see fromApiError.
  RATE_LIMITED: { type: 'requests', code: 'rate_limit_exceeded' },
  INTERNAL_ERROR: { type: 'api_error', code: 'internal_error' },
  NO_ELIGIBLE_MODEL: { type: 'api_error', code: 'no_eligible_model' },
  SERVICE_UNAVAILABLE: { type: 'api_error', code: 'service_unavailable' },
};

/** The limit a RATE_LIMITED error names (its details), which is OpenAI's `type` for it. */
const rateLimitType = (error: ApiError): string | null =>
  error.code === 'RATE_LIMITED' && (error.details as { limit?: unknown } | undefined)?.limit === 'tokens' ? 'tokens' : null;

export function fromApiError(error: ApiError): OpenAIError {
  const { code } = FROM_API_ERROR[error.code];
  const type = rateLimitType(error) ?? FROM_API_ERROR[error.code].type;
  const param = Array.isArray(error.details) && typeof (error.details[0] as { path?: unknown })?.path === 'string'
    ? ((error.details[0] as { path: string }).path === '(root)' ? null : (error.details[0] as { path: string }).path)
    : null;
  return new OpenAIError(error.status, error.message, type, code, param, error.headers);
}

/** A request body that does not parse: 400 naming the first bad field as `param`. */
export function invalidRequest(error: ZodError): OpenAIError {
  const issue = error.issues[0];
  const path = issue?.path.join('.') ?? '';
  const unknownKeys = issue?.code === 'unrecognized_keys' ? issue.keys : null;
  if (unknownKeys) {
    const name = unknownKeys[0]!;
    return new OpenAIError(400, `Unrecognized request argument supplied: ${unknownKeys.join(', ')}`, 'invalid_request_error', 'unknown_parameter', path ? `${path}.${name}` : name);
  }
  const message = issue ? `Invalid value for '${path || '(body)'}': ${issue.message}` : 'Invalid request body';
  return new OpenAIError(400, message, 'invalid_request_error', 'invalid_value', path || null);
}

/** Express error handler of the /v1 paths: every 4xx/5xx in OpenAI's shape. */
export function openAIErrorHandler(logger: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    let error: OpenAIError;
    if (err instanceof OpenAIError) error = err;
    else if (err instanceof ApiError) error = fromApiError(err);
    else {
      const parsed = fromBodyParser(err);
      if (parsed) error = fromApiError(parsed);
      else {
        logger.error('unhandled gateway error', { request_id: res.locals.requestId, method: req.method, path: req.path, err });
        error = new OpenAIError(500, 'internal error', 'api_error', 'internal_error');
      }
    }
    if (res.headersSent) {
      res.destroy();
      return;
    }
    // POST /v1/chat/completions leaves x-request-id to its answers (requestIdWrittenByRoute).
    if (!res.hasHeader('x-request-id') && typeof res.locals.requestId === 'string') res.setHeader('x-request-id', res.locals.requestId);
    if (error.headers) res.set(error.headers);
    res.status(error.status).json(error.body());
  };
}
