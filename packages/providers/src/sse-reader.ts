/** Server-sent events in, one event at a time: the shared front end of every stream translator. */
import { createParser, type EventSourceMessage } from 'eventsource-parser';

export type { EventSourceMessage };

/**
 * Buffers partial lines across pushes (a chunk boundary may fall anywhere) and answers the events
 * each push completed. `flush` ends the stream: an event without its closing blank line still counts,
 * as browsers' EventSource does not, but providers' SDKs do.
 */
export class SseReader {
  private pending: EventSourceMessage[] = [];
  private readonly parser = createParser({ onEvent: (event) => this.pending.push(event) });

  push(text: string): EventSourceMessage[] {
    this.parser.feed(text);
    return this.take();
  }

  flush(): EventSourceMessage[] {
    this.parser.reset({ consume: true });
    return this.take();
  }

  private take(): EventSourceMessage[] {
    if (this.pending.length === 0) return EMPTY;
    const events = this.pending;
    this.pending = [];
    return events;
  }
}

const EMPTY: EventSourceMessage[] = [];

/** JSON.parse that answers undefined instead of throwing (a provider's garbage is not our crash). */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
