import { describe, expect, it } from '@jest/globals';
import { ApiError, ERROR_CODES, type ErrorCode } from '@model-router/http';
import { z } from 'zod';
import { gatewayRequestSchema } from '../src/gateway/chat-completions.schema.js';
import { fromApiError, invalidRequest } from '../src/gateway/openai-error.js';

describe("the gateway's errors in OpenAI's shape", () => {
  it.each(Object.keys(ERROR_CODES) as ErrorCode[])('%s keeps its status and gets an OpenAI type and code', (code) => {
    const error = fromApiError(new ApiError(code, 'something', undefined, { 'Retry-After': '3' }));
    expect(error.status).toBe(ERROR_CODES[code].status);
    expect(Object.keys(error.body().error).sort()).toEqual(['code', 'message', 'param', 'type']);
    // OpenAI's types; a key's rate limit names the limit reached ("requests" or "tokens") as OpenAI does.
    expect(error.body().error.type).toMatch(/^(invalid_request_error|authentication_error|permission_error|insufficient_quota|api_error|requests)$/);
    expect(error.headers).toEqual({ 'Retry-After': '3' });
  });

  it('answers a key over its token limit as OpenAI does: type "tokens", code rate_limit_exceeded', () => {
    const error = fromApiError(new ApiError('RATE_LIMITED', 'Rate limit reached', { limit: 'tokens' }, { 'retry-after': '2' }));
    expect(error.status).toBe(429);
    expect(error.body().error).toMatchObject({ type: 'tokens', code: 'rate_limit_exceeded', param: null });
    expect(fromApiError(new ApiError('RATE_LIMITED', 'Rate limit reached', { limit: 'requests' })).body().error.type).toBe('requests');
  });

  it('names the bad field as param, and an unknown field as unknown_parameter', () => {
    const unknown = gatewayRequestSchema.safeParse({ model: 'm', messages: [{ role: 'user', content: 'x' }], temprature: 1 });
    expect(unknown.success).toBe(false);
    expect(invalidRequest(unknown.error!).body().error).toMatchObject({ type: 'invalid_request_error', code: 'unknown_parameter', param: 'temprature' });
    const bad = gatewayRequestSchema.safeParse({ model: 'm', messages: [{ role: 'user', content: 'x' }], temperature: 7 });
    expect(invalidRequest(bad.error!).body().error).toMatchObject({ code: 'invalid_value', param: 'temperature' });
    const root = z.object({}).strict().safeParse(3);
    expect(invalidRequest(root.error!).status).toBe(400);
  });
});
