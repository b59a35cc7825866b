import { describe, expect, it } from '@jest/globals';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import fc from 'fast-check';
import { chain } from '../src/chain.js';

const req = {} as Request;
const res = {} as Response;

/** Runs `handler` as Express runs one layer, and resolves with what it passed to Express's next (undefined: next() with nothing). */
function run(handler: RequestHandler): Promise<{ called: boolean; arg: unknown }> {
  return new Promise((resolve) => {
    const done = ((arg?: unknown) => resolve({ called: true, arg })) as NextFunction;
    // As Express 5 runs a layer: a throw, or a returned promise that rejects, is next(error).
    try {
      const result = handler(req, res, done) as unknown;
      if (result instanceof Promise) result.catch((error: unknown) => done(error));
    } catch (error) {
      done(error);
    }
    // A handler that answers and never calls next: nothing reaches Express.
    setTimeout(() => resolve({ called: false, arg: undefined }), 20);
  });
}

type Step = 'next' | 'error' | 'throw' | 'reject' | 'answer' | 'async-next' | 'route';

function handlerFor(step: Step, at: number, trace: number[]): RequestHandler {
  return (_req, _res, next) => {
    trace.push(at);
    switch (step) {
      case 'next':
        return next();
      case 'error':
        return next(new Error(`error ${at}`));
      case 'throw':
        throw new Error(`error ${at}`);
      case 'reject':
        return Promise.reject(new Error(`error ${at}`)) as unknown as void;
      case 'answer':
        return; // answered: next is never called
      case 'async-next':
        return Promise.resolve().then(() => next()) as unknown as void;
      case 'route':
        return next('route');
    }
  };
}

describe('chain', () => {
  it('behaves as Express walking the same handlers one layer each (property: any mix of outcomes)', async () => {
    const steps: Step[] = ['next', 'error', 'throw', 'reject', 'answer', 'async-next', 'route'];
    await fc.assert(
      fc.asyncProperty(fc.array(fc.constantFrom(...steps), { minLength: 1, maxLength: 8 }), async (plan) => {
        const trace: number[] = [];
        const outcome = await run(chain(...plan.map((step, at) => handlerFor(step, at, trace))));
        // The handlers run in order up to the first that does not pass on.
        const stop = plan.findIndex((s) => s !== 'next' && s !== 'async-next');
        const ran = stop === -1 ? plan.length : stop + 1;
        expect(trace).toEqual(plan.slice(0, ran).map((_, at) => at));
        if (stop === -1) {
          expect(outcome).toEqual({ called: true, arg: undefined }); // all passed on: Express's next()
          return;
        }
        const last = plan[stop]!;
        if (last === 'answer') expect(outcome.called).toBe(false);
        else if (last === 'route') expect(outcome).toEqual({ called: true, arg: 'route' });
        else {
          expect(outcome.called).toBe(true);
          expect((outcome.arg as Error).message).toBe(`error ${stop}`);
        }
      }),
    );
  });

  it('is the handler itself when there is one', () => {
    const only: RequestHandler = (_req, _res, next) => next();
    expect(chain(only)).toBe(only);
  });
});
