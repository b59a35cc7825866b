/**
 * Polling for outcomes that arrive asynchronously (a row in Postgres, a circuit state in Redis, a
 * span at a receiver): the one helper every test uses instead of fixed sleeps.
 */

export interface WaitOptions {
  /** Give up after this long (default 20 s). */
  timeoutMs?: number;
  /** Pause between polls (default 25 ms). */
  intervalMs?: number;
  /** What is awaited, named in the timeout error. */
  what?: string;
  /** More for the timeout error (a log tail, a queue's counts). */
  detail?: () => string | Promise<string>;
}

/** A timeout in ms, or the options. */
export type Wait = number | WaitOptions;

const optionsOf = (wait: Wait): WaitOptions => (typeof wait === 'number' ? { timeoutMs: wait } : wait);

/**
 * Reads until `done(value)` holds and returns that value; after the timeout, fails with the last
 * value read.
 */
export async function waitFor<T>(read: () => T | Promise<T>, done: (value: T) => boolean, wait: Wait = {}): Promise<T> {
  const { timeoutMs = 20_000, intervalMs = 25, what = 'condition', detail } = optionsOf(wait);
  const started = Date.now();
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() - started > timeoutMs) {
      const last = JSON.stringify(value)?.slice(0, 500);
      throw new Error(`${what}: not reached within ${timeoutMs} ms; last value: ${last}${detail ? `\n${await detail()}` : ''}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Waits until `check` holds; returns how long that took in ms. */
export async function waitUntil(check: () => boolean | Promise<boolean>, wait: Wait = {}): Promise<number> {
  const started = Date.now();
  await waitFor(check, Boolean, wait);
  return Date.now() - started;
}

/** Reads until the value is defined and returns it. */
export function waitForDefined<T>(read: () => T | undefined | Promise<T | undefined>, wait: Wait = {}): Promise<T> {
  return waitFor(read, (value) => value !== undefined, wait) as Promise<T>;
}
