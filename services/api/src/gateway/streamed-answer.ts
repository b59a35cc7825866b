import type { ChatCompletionChunk, ProviderAdapter, StreamContext, StreamTranslator } from '@model-router/providers';
import type { Response } from 'express';
import { SseWriter } from './sse-writer.js';
import { type AnswerReader, bodyText, type ResponseHeaders, type StreamControl } from './upstream-client.js';

/** What the attempt that owns a streamed answer is told as it comes. */
export interface StreamedAnswerHooks {
  /** The provider's status and headers came (its rate-limit headers are noted here). */
  headers(statusCode: number, headers: ResponseHeaders): void;
  /** The first translated chunk is about to go out: the attempt's answer headers, and its first byte. */
  opening(): Record<string, string>;
}

const isSuccess = (status: number): boolean => status >= 200 && status < 300;

/**
 * Where the first complete server-sent event of `text` ends (after its blank line), or -1. Events
 * end with a blank line in any of the three line-ending styles.
 */
function firstEventEnd(text: string): number {
  const lf = text.indexOf('\n\n');
  const crlf = text.indexOf('\r\n\r\n');
  if (lf !== -1 && (crlf === -1 || lf < crlf)) return lf + 2;
  return crlf === -1 ? -1 : crlf + 4;
}

/**
 * A streamed call's answer, read as undici delivers it (no body stream in between): an error status
 * is kept as text for the error; a success is translated to OpenAI chunks and written to the client
 * as server-sent events as each piece arrives, with the provider paused while the client's socket
 * is full.
 *
 * The first event is written and sent on its own, before the rest of the piece it came in is
 * translated: a provider that sends several events at once (or a whole short answer) still gets its
 * first token to the client first.
 */
export class StreamedAnswer implements AnswerReader {
  /** The provider's status once its headers came; 0 before. */
  statusCode = 0;
  readonly translator: StreamTranslator;
  readonly sse: SseWriter;
  /** A translator or writer failure while reading (rethrown by the attempt once the call is over). */
  failure: unknown = null;
  private readonly decoder = new TextDecoder();
  private readonly errorBody: Buffer[] = [];
  private control: StreamControl | null = null;
  /** Paused until the client's socket drains (one listener, however many pieces come meanwhile). */
  private waitingForDrain = false;
  private readonly resume = (): void => {
    this.waitingForDrain = false;
    this.control?.resume();
  };

  constructor(
    adapter: ProviderAdapter,
    private readonly res: Response,
    context: StreamContext,
    private readonly hooks: StreamedAnswerHooks,
  ) {
    this.translator = adapter.createStreamTranslator(context);
    this.sse = new SseWriter(res);
  }

  onHeaders(statusCode: number, headers: ResponseHeaders, control: StreamControl): void {
    this.statusCode = statusCode;
    this.control = control;
    this.hooks.headers(statusCode, headers);
  }

  onData(chunk: Buffer): void {
    if (!isSuccess(this.statusCode)) {
      this.errorBody.push(chunk);
      return;
    }
    try {
      let text = this.decoder.decode(chunk, { stream: true });
      if (!this.sse.started) {
        const end = firstEventEnd(text);
        if (end !== -1 && end < text.length) {
          this.write(this.translator.push(text.slice(0, end)));
          if (this.sse.started) this.sse.flush();
          text = text.slice(end);
        }
      }
      if (!this.translator.error) this.write(this.translator.push(text));
      if (this.translator.error) this.control!.stop();
      else if (this.res.writableNeedDrain && !this.waitingForDrain) {
        this.waitingForDrain = true;
        this.control!.pause();
        this.res.once('drain', this.resume);
      }
    } catch (error) {
      this.failure = error;
      this.control!.stop();
    }
  }

  /** The body ended as it should: what the decoder and the translator still hold goes out. */
  end(): void {
    if (this.translator.error || this.failure) return;
    this.write(this.translator.push(this.decoder.decode()).concat(this.translator.end()));
  }

  /** An error answer's body as text (what came of it). */
  errorText(): string {
    return bodyText(Buffer.concat(this.errorBody));
  }

  /** Writes translated chunks; the first ones open the stream (status and headers). */
  private write(chunks: readonly ChatCompletionChunk[]): void {
    if (chunks.length === 0) return;
    if (!this.sse.started) this.sse.open(this.hooks.opening());
    this.sse.chunks(chunks);
  }
}
