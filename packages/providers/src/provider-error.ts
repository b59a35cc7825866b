/** The OpenAI error fields for an upstream answer whose body says nothing useful. */
import { parseJson } from './sse-reader.js';
import type { ProviderError } from './types.js';

/** OpenAI's error `type` for an HTTP status, for bodies that carry none. */
export function errorTypeForStatus(status: number): string {
  if (status === 400 || status === 404 || status === 409 || status === 413 || status === 422) return 'invalid_request_error';
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 429) return 'rate_limit_error';
  if (status === 503 || status === 529) return 'overloaded_error';
  return 'api_error';
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A body that is not the provider's error shape: keep a short piece of it as the message. */
export function genericError(status: number, body: unknown): ProviderError {
  let detail = '';
  if (typeof body === 'string') detail = body.trim().slice(0, 500);
  else if (body !== undefined && body !== null) detail = JSON.stringify(body).slice(0, 500);
  return {
    message: detail ? `Upstream error ${status}: ${detail}` : `Upstream error ${status}`,
    type: errorTypeForStatus(status),
    code: null,
  };
}

export function stringOr(value: unknown, fallback: string): string {
  return typeof value === 'string' && value ? value : fallback;
}

/** An error answer's body: parsed when it came as JSON text, else as it came. */
export function errorBody(body: unknown): unknown {
  return typeof body === 'string' ? (parseJson(body) ?? body) : body;
}
