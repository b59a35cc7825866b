import type { ChatCompletionChunk } from '@model-router/providers';
import type { Response } from 'express';
import type { OpenAIError } from './openai-error.js';

/**
 * Writes a streamed answer as OpenAI does: `text/event-stream`, one `data: <chunk JSON>` event per
 * chunk, `data: [DONE]` at the end. An error after the first byte cannot change the status any
 * more: it is sent as an event carrying OpenAI's error object (the official clients raise it), and
 * the stream ends without [DONE].
 */
export class SseWriter {
  private opened = false;

  constructor(private readonly res: Response) {}

  get started(): boolean {
    return this.opened;
  }

  /**
   * Sets the status and headers (with `headers`); from here on no fallback is possible. They go out
   * with the first chunk, in the same write: one packet for the client's first token, not two.
   */
  open(headers: Record<string, string>): void {
    if (this.opened) return;
    this.opened = true;
    headers['content-type'] = 'text/event-stream; charset=utf-8';
    headers['cache-control'] = 'no-cache';
    headers.connection = 'keep-alive';
    // Proxies such as nginx would otherwise buffer the stream and hold back the first token.
    headers['x-accel-buffering'] = 'no';
    this.res.writeHead(200, headers);
  }

  chunks(chunks: readonly ChatCompletionChunk[]): void {
    if (chunks.length === 0) return;
    let text = '';
    for (const chunk of chunks) text += `data: ${JSON.stringify(chunk)}\n\n`;
    this.res.write(text);
  }

  /**
   * Sends what was written so far now instead of at the end of this tick (Node's HTTP response
   * holds its writes back until then), so the first token leaves before more work is done.
   */
  flush(): void {
    this.res.socket?.uncork();
  }

  done(): void {
    this.res.end('data: [DONE]\n\n');
  }

  error(error: OpenAIError): void {
    this.res.end(`data: ${JSON.stringify(error.body())}\n\n`);
  }
}
