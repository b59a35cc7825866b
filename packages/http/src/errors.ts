import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { ZodError, ZodType } from 'zod';
import type { Logger } from '@model-router/logger';

/**
 * The closed set of error codes, one per meaning, each with its HTTP status. (Whether a retry can
 * help follows from the status: 429 and 5xx may pass, 4xx will not.)
 */
export const ERROR_CODES = {
  INVALID_JSON: { status: 400 },
  VALIDATION_ERROR: { status: 400 },
  UNAUTHORIZED: { status: 401 },
  FORBIDDEN: { status: 403 },
  NOT_FOUND: { status: 404 },
  MODEL_NOT_FOUND: { status: 404 },
  AB_TEST_NOT_FOUND: { status: 404 },
  BUDGET_NOT_FOUND: { status: 404 },
  INVALID_TRANSITION: { status: 409 },
  /** The request conflicts with what exists: a model, A/B test or budget with its id, a test not running. */
  CONFLICT: { status: 409 },
  PAYLOAD_TOO_LARGE: { status: 413 },
  UNSUPPORTED_MEDIA_TYPE: { status: 415 },
  BUDGET_EXCEEDED: { status: 429 },
  /** An API key over its requests or tokens per minute (Retry-After says when the window ends). */
  RATE_LIMITED: { status: 429 },
  INTERNAL_ERROR: { status: 500 },
  NO_ELIGIBLE_MODEL: { status: 503 },
  SERVICE_UNAVAILABLE: { status: 503 },
} as const satisfies Record<string, { status: number }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export class ApiError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
    /** Extra response headers, e.g. Retry-After. */
    readonly headers?: Record<string, string>,
  ) {
    super(message);
    this.status = ERROR_CODES[code].status;
  }
}

export interface ErrorBody {
  error: { code: ErrorCode; message: string; details?: unknown; request_id: string };
}

export function errorBody(error: ApiError, requestId: string): ErrorBody {
  return {
    error: {
      code: error.code,
      message: error.message,
      ...(error.details === undefined ? {} : { details: error.details }),
      request_id: requestId,
    },
  };
}

/** Turns a zod failure into a 400 whose details name each bad field. */
export function validationError(error: ZodError, what = 'request body'): ApiError {
  const details = error.issues.map((issue) => ({
    path: issue.path.join('.') || '(root)',
    message: issue.message,
  }));
  const first = details[0];
  const summary = first ? `${first.path}: ${first.message}` : 'invalid';
  return new ApiError('VALIDATION_ERROR', `invalid ${what}: ${summary}`, details);
}

/** Parses input with `schema`; a failure becomes a 400 VALIDATION_ERROR naming each bad field. */
export function parseInput<T>(schema: ZodType<T>, value: unknown, what?: string): T {
  const result = schema.safeParse(value);
  if (!result.success) throw validationError(result.error, what);
  return result.data;
}

export const notFoundHandler: RequestHandler = (req, _res, next) => {
  next(new ApiError('NOT_FOUND', `no endpoint ${req.method} ${req.path}`));
};

/** Body-parser failures carry a `type`; map each to our envelope instead of a stack trace. */
export function fromBodyParser(error: { type?: string; status?: number; message?: string }): ApiError | null {
  switch (error.type) {
    case 'entity.parse.failed':
      return new ApiError('INVALID_JSON', 'request body is not valid JSON');
    case 'entity.too.large':
      return new ApiError('PAYLOAD_TOO_LARGE', 'request body is too large');
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new ApiError('UNSUPPORTED_MEDIA_TYPE', error.message ?? 'unsupported encoding');
    case 'request.aborted':
    case 'request.size.invalid':
    case 'stream.encoding.set':
      return new ApiError('VALIDATION_ERROR', error.message ?? 'bad request body');
    default:
      return null;
  }
}

export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const requestId = (res.locals.requestId as string | undefined) ?? 'unknown';
    let apiError: ApiError;
    if (err instanceof ApiError) apiError = err;
    else {
      apiError = fromBodyParser(err) ?? new ApiError('INTERNAL_ERROR', 'internal error');
      if (apiError.code === 'INTERNAL_ERROR') {
        logger.error('unhandled error', { request_id: requestId, method: req.method, path: req.path, err });
      }
    }
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (apiError.headers) res.set(apiError.headers);
    res.status(apiError.status).json(errorBody(apiError, requestId));
  };
}
