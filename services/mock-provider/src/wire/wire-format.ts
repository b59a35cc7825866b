/** What each provider surface of the mock supplies: reading its request, writing its answers and errors. */
import type { Request } from 'express';
import type { MockAnswer, MockPrompt } from '../conversation.js';
import type { MockError } from '../mock-error.js';

export type WireApi = 'openai' | 'anthropic' | 'gemini';

export interface WireRequest {
  prompt: MockPrompt;
  stream: boolean;
  /** OpenAI `stream_options.include_usage`: end the stream with a usage chunk. */
  includeUsage: boolean;
  /** Gemini's streamGenerateContent without `alt=sse`: the whole answer as a one-element JSON array. */
  jsonArray?: boolean;
}

export interface AnswerIds {
  /** Provider-shaped id of the answer (chatcmpl-…, msg_…, a Gemini responseId). */
  id: string;
  /** Unix seconds. */
  created: number;
}

/**
 * A streamed answer as text ready to write: `head` goes out with the first byte, each of `pieces`
 * carries one word (or one piece of tool-call arguments) and is paced by tokens_per_second, `tail`
 * closes the stream (finish reason, usage, end marker).
 */
export interface StreamScript {
  head: string;
  pieces: string[];
  tail: string;
}

export interface WireFormat {
  api: WireApi;
  /** Validates and reads a request; throws a MockError (400) for a bad one. */
  parse(req: Request): WireRequest;
  newIds(now: number): AnswerIds;
  newToolCallId(): string;
  completion(request: WireRequest, answer: MockAnswer, ids: AnswerIds): unknown;
  stream(request: WireRequest, answer: MockAnswer, ids: AnswerIds): StreamScript;
  /** The status this surface answers an error with (Anthropic's overloaded is 529). */
  errorStatus(error: MockError): number;
  errorBody(error: MockError): unknown;
  /** The error as this format's in-stream error event. */
  streamError(error: MockError): string;
}

export const sseData = (data: unknown): string => `data: ${JSON.stringify(data)}\n\n`;
export const sseEvent = (event: string, data: unknown): string => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;

/** Splits tool-call arguments into a few pieces, so clients see argument deltas as real providers send them. */
export function argumentPieces(json: string, size = 12): string[] {
  const pieces: string[] = [];
  for (let i = 0; i < json.length; i += size) pieces.push(json.slice(i, i + size));
  return pieces;
}

export const hexId = (): string => crypto.randomUUID().replaceAll('-', '');
