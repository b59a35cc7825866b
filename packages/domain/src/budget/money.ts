/**
 * Money that is summed is held as integer nano-dollars (USD × 1e9), the unit the events carry
 * (`cost_nanos`), so a day of a million small costs adds up exactly. JS numbers hold integers
 * exactly up to 2^53 nano-dollars, about $9 million: far above any one budget period's spend.
 */
export const NANOS_PER_USD = 1_000_000_000;

/** USD → nano-dollars, rounded to the nearest nano-dollar (the same rounding as the events). */
export function usdToNanos(usd: number): number {
  return Math.round(usd * NANOS_PER_USD);
}

/** Nano-dollars → USD, for answers; exact for any sum below 2^53 nano-dollars. */
export function nanosToUsd(nanos: number): number {
  return nanos / NANOS_PER_USD;
}
