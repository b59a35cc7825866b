import { EventEmitter } from 'node:events';
import { describe, expect, it } from '@jest/globals';
import type { Response } from 'express';
import fc from 'fast-check';
import { adapterFor } from '@model-router/providers';
import { StreamedAnswer } from '../src/gateway/streamed-answer.js';
import type { StreamControl } from '../src/gateway/upstream-client.js';

// A streamed answer is read from undici's callbacks and written to the client as it comes: what
// the client receives must not depend on how the provider's bytes were cut, the first event goes
// out on its own (flushed) before the rest of its piece is translated, and a full client socket
// pauses the provider.

/** The parts of an HTTP response the answer writes to, recording what happens in order. */
class ClientResponse extends EventEmitter {
  readonly log: string[] = [];
  readonly writes: string[] = [];
  writableNeedDrain = false;
  readonly socket = { uncork: () => this.log.push('flush') };

  writeHead(status: number): this {
    this.log.push(`head ${status}`);
    return this;
  }

  write(text: string): boolean {
    this.log.push('write');
    this.writes.push(text);
    return !this.writableNeedDrain;
  }

  end(text?: string): this {
    if (text) this.writes.push(text);
    this.log.push('end');
    return this;
  }
}

class Control implements StreamControl {
  paused = 0;
  resumed = 0;
  stopped = 0;
  pause(): void {
    this.paused++;
  }
  resume(): void {
    this.resumed++;
  }
  stop(): void {
    this.stopped++;
  }
}

const CONTEXT = { model: 'gw-model', id: 'chatcmpl-test', created: 1_760_000_000, includeUsage: true };

function answerTo(res: ClientResponse): StreamedAnswer {
  return new StreamedAnswer(adapterFor('openai'), res as unknown as Response, CONTEXT, { headers: () => undefined, opening: () => ({}) });
}

/** An OpenAI stream of `pieces` content deltas, with usage and [DONE], events ended by `eol` twice. */
function openAIStream(pieces: string[], eol: string): string {
  const event = (data: unknown) => `data: ${JSON.stringify(data)}${eol}${eol}`;
  const chunk = (delta: unknown, finish: string | null = null) => ({
    id: 'up-1',
    object: 'chat.completion.chunk',
    created: 1,
    model: 'upstream',
    choices: [{ index: 0, delta, finish_reason: finish }],
  });
  let text = event(chunk({ role: 'assistant', content: '' }));
  for (const piece of pieces) text += event(chunk({ content: piece }));
  text += event(chunk({}, 'stop'));
  text += event({ id: 'up-1', object: 'chat.completion.chunk', created: 1, model: 'upstream', choices: [], usage: { prompt_tokens: 3, completion_tokens: pieces.length, total_tokens: 3 + pieces.length } });
  return `${text}data: [DONE]${eol}${eol}`;
}

/** Delivers `body` cut at the byte offsets `cuts` and answers what the client received. */
function deliver(body: Buffer, cuts: number[]): { res: ClientResponse; answer: StreamedAnswer } {
  const res = new ClientResponse();
  const answer = answerTo(res);
  answer.onHeaders(200, {}, new Control());
  let from = 0;
  for (const cut of [...new Set(cuts)].sort((a, b) => a - b).concat(body.length)) {
    if (cut > from) answer.onData(body.subarray(from, cut));
    from = Math.max(from, cut);
  }
  answer.end();
  return { res, answer };
}

const streams = fc.record({
  pieces: fc.array(fc.string({ unit: 'grapheme', maxLength: 8 }), { minLength: 1, maxLength: 8 }),
  eol: fc.constantFrom('\n', '\r\n'),
});

describe('a streamed answer written as it comes', () => {
  it('sends the client the same events however the provider cut its bytes (multi-byte characters included)', () => {
    fc.assert(
      fc.property(streams, fc.array(fc.nat(), { maxLength: 12 }), ({ pieces, eol }, rawCuts) => {
        const body = Buffer.from(openAIStream(pieces, eol), 'utf8');
        const whole = deliver(body, []);
        const cut = deliver(
          body,
          rawCuts.map((n) => n % (body.length + 1)),
        );
        expect(cut.res.writes.join('')).toBe(whole.res.writes.join(''));
        expect(cut.answer.translator.completed).toBe(true);
        expect(cut.answer.translator.usage).toEqual(whole.answer.translator.usage);
        expect(cut.answer.translator.outputText).toBe(pieces.join(''));
      }),
      { numRuns: 200 },
    );
  });

  it('writes and flushes the first event on its own before translating the rest of the piece it came in', () => {
    fc.assert(
      fc.property(streams, ({ pieces, eol }) => {
        const { res } = deliver(Buffer.from(openAIStream(pieces, eol), 'utf8'), []);
        // The role chunk alone, then the flush, then everything else.
        expect(res.log.slice(0, 3)).toEqual(['head 200', 'write', 'flush']);
        const first = JSON.parse(res.writes[0]!.replace(/^data: /, '')) as { id: string; model: string; choices: Array<{ delta: unknown }> };
        expect(res.writes[0]!.match(/^data: /gm)).toHaveLength(1);
        expect(first).toMatchObject({ id: CONTEXT.id, model: CONTEXT.model, choices: [{ delta: { role: 'assistant' } }] });
        expect(res.log.filter((step) => step === 'flush')).toHaveLength(1);
      }),
      { numRuns: 50 },
    );
  });

  it('pauses the provider while the client socket is full, and resumes it on drain', () => {
    const res = new ClientResponse();
    const control = new Control();
    const answer = answerTo(res);
    answer.onHeaders(200, {}, control);
    res.writableNeedDrain = true;
    const events = openAIStream(['a', 'b', 'c'], '\n').split('data: [DONE]')[0]!.split(/(?<=\n\n)/);
    // Pieces the provider had already sent keep coming while it is paused: one wait, not one each.
    for (const event of events) answer.onData(Buffer.from(event, 'utf8'));
    expect(control.paused).toBe(1);
    expect(res.listenerCount('drain')).toBe(1);
    expect(control.resumed).toBe(0);
    res.writableNeedDrain = false;
    res.emit('drain');
    expect(control.resumed).toBe(1);
    // Full again later: paused again.
    res.writableNeedDrain = true;
    answer.onData(Buffer.from(events[0]!, 'utf8'));
    expect(control.paused).toBe(2);
  });

  it('keeps an error status body as text for the error, writing nothing to the client', () => {
    const res = new ClientResponse();
    const answer = answerTo(res);
    answer.onHeaders(429, { 'retry-after': '2' }, new Control());
    answer.onData(Buffer.from('\ufeff{"error":{"message":"slow'));
    answer.onData(Buffer.from(' down"}}'));
    expect(answer.errorText()).toBe('{"error":{"message":"slow down"}}');
    expect(res.log).toEqual([]);
  });

  it('stops reading when the provider reports an error inside the stream', () => {
    const res = new ClientResponse();
    const control = new Control();
    const answer = answerTo(res);
    answer.onHeaders(200, {}, control);
    answer.onData(Buffer.from('data: {"error":{"message":"overloaded","type":"server_error"}}\n\n'));
    expect(answer.translator.error).not.toBeNull();
    expect(control.stopped).toBe(1);
  });
});
