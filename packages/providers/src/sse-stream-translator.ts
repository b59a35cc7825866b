/**
 * The part every provider's stream translator shares: the upstream body read as server-sent
 * events, each push answering the chunks of the events it completed. A provider's translator says
 * only what its events mean (`translate`) and when its stream is complete.
 */
import { SseReader } from './sse-reader.js';
import type { ChatCompletionChunk, CompletionUsage, FinishReason, ProviderError, StreamContext, StreamTranslator } from './types.js';

export abstract class SseStreamTranslator implements StreamTranslator {
  usage: CompletionUsage | null = null;
  finishReason: FinishReason | null = null;
  error: ProviderError | null = null;
  outputText = '';
  abstract readonly completed: boolean;
  private readonly reader = new SseReader();

  constructor(protected readonly ctx: StreamContext) {}

  push(text: string): ChatCompletionChunk[] {
    return this.translate(this.reader.push(text));
  }

  end(): ChatCompletionChunk[] {
    return this.translate(this.reader.flush());
  }

  protected abstract translate(events: ReadonlyArray<{ data: string }>): ChatCompletionChunk[];
}
