import { DateTime, IANAZone } from 'luxon';
import type { BudgetPeriod } from './budget.js';

/** One budget period: [start, end) as instants, and the local calendar key that names it. */
export interface PeriodWindow {
  /** "2026-03-08" for a daily period, "2026-03" for a monthly one (dates in the budget's zone). */
  key: string;
  start_ms: number;
  end_ms: number;
}

/** True for a time zone name the platform's tz database knows ("UTC", "Europe/Berlin", …). */
export function isValidTimeZone(timezone: string): boolean {
  return IANAZone.isValidZone(timezone);
}

/**
 * The canonical spelling of a known zone ("europe/berlin" → "Europe/Berlin"), or null when the
 * name is not an IANA zone. Fixed offsets such as "+02:00" are refused: a budget's day should
 * follow the place's clock, DST included.
 */
export function canonicalTimeZone(timezone: string): string | null {
  if (!isValidTimeZone(timezone)) return null;
  try {
    const canonical = new Intl.DateTimeFormat('en-US', { timeZone: timezone }).resolvedOptions().timeZone;
    // Recent ICU accepts offsets ("+02:00") as zones; they have no DST and no place.
    return /^[+-]\d/.test(canonical) ? null : canonical;
  } catch {
    return null;
  }
}

/**
 * The period of `period` in `timezone` that holds the instant `atMs`. Boundaries are local
 * midnights (of the day, or of the month's first day): a DST day is 23 or 25 hours long, and where
 * a zone skips midnight itself the period starts at the first instant of the local date.
 */
export function periodWindow(period: BudgetPeriod, timezone: string, atMs: number): PeriodWindow {
  const local = DateTime.fromMillis(atMs, { zone: timezone });
  if (!local.isValid) throw new RangeError(`unknown time zone "${timezone}"`);
  const unit = period === 'daily' ? 'day' : 'month';
  const start = local.startOf(unit);
  // From the start's local date, one calendar unit on, then back to that date's first instant.
  const end = start.plus(period === 'daily' ? { days: 1 } : { months: 1 }).startOf(unit);
  return {
    key: period === 'daily' ? start.toFormat('yyyy-MM-dd') : start.toFormat('yyyy-MM'),
    start_ms: start.toMillis(),
    end_ms: end.toMillis(),
  };
}

/**
 * Memoises the last window per (period, zone): a batch of events mostly falls in one period, so
 * the calendar arithmetic runs once per batch instead of once per event.
 */
export class PeriodCalendar {
  private readonly last = new Map<string, PeriodWindow>();

  windowAt(period: BudgetPeriod, timezone: string, atMs: number): PeriodWindow {
    const key = `${period}\u0000${timezone}`;
    const cached = this.last.get(key);
    if (cached && atMs >= cached.start_ms && atMs < cached.end_ms) return cached;
    const window = periodWindow(period, timezone, atMs);
    this.last.set(key, window);
    return window;
  }
}
