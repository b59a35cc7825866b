/**
 * An error the mock answers, before each wire format renders it in its provider's shape (OpenAI's
 * `{"error": {...}}`, Anthropic's `{"type": "error", ...}`, Google's `{"error": {"code", "status"}}`).
 */
export type MockErrorKind = 'invalid_request' | 'not_found' | 'rate_limit' | 'server_error' | 'overloaded' | 'unavailable';

export class MockError extends Error {
  constructor(
    readonly status: number,
    readonly kind: MockErrorKind,
    /** OpenAI's `code` (the other providers have no such field). */
    readonly code: string,
    message: string,
    readonly param: string | null = null,
    /** For a 429: when to retry (Google says it in the body, as RetryInfo). */
    readonly retryAfterS: number | null = null,
  ) {
    super(message);
  }
}

export function invalidRequest(issues: ReadonlyArray<{ path: PropertyKey[]; message: string }>, what = 'request body'): MockError {
  const issue = issues[0];
  const param = issue && issue.path.length ? issue.path.map(String).join('.') : null;
  const message = issue ? `Invalid ${what}: ${param ?? '(root)'}: ${issue.message}` : `Invalid ${what}`;
  return new MockError(400, 'invalid_request', 'invalid_value', message, param);
}

export const modelNotFound = (id: string): MockError =>
  new MockError(404, 'not_found', 'model_not_found', `The model \`${id}\` does not exist (mock provider).`, 'model');

export const modelDown = (id: string): MockError =>
  new MockError(503, 'unavailable', 'model_unavailable', `The model \`${id}\` is down (mock provider "down" switch).`);

export const injectedFailure = (id: string): MockError =>
  new MockError(500, 'server_error', 'injected_failure', `The server had an error while processing your request to \`${id}\` (injected by the mock provider).`);

export const injectedOverload = (id: string): MockError =>
  new MockError(503, 'overloaded', 'overloaded', `The model \`${id}\` is overloaded (injected by the mock provider).`);

export const rateLimited = (id: string, retryAfterS: number): MockError =>
  new MockError(429, 'rate_limit', 'rate_limit_exceeded', `Rate limit reached for \`${id}\` (mock provider). Please try again in ${retryAfterS}s.`, null, retryAfterS);

/** Body-parser failures carry a `type`: each becomes a client error; anything else is the mock's fault. */
export function bodyParserError(err: unknown): MockError | null {
  const type = (err as { type?: string } | null)?.type;
  if (type === 'entity.parse.failed') return new MockError(400, 'invalid_request', 'invalid_json', 'The request body is not valid JSON.');
  if (type === 'entity.too.large') return new MockError(413, 'invalid_request', 'payload_too_large', 'The request body is too large.');
  if (type === 'encoding.unsupported' || type === 'charset.unsupported') {
    return new MockError(415, 'invalid_request', 'unsupported_media_type', (err as Error).message);
  }
  return null;
}
