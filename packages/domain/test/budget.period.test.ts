import { describe, expect, it } from '@jest/globals';
import { canonicalTimeZone, isValidTimeZone, PeriodCalendar, periodWindow } from '../src/index.js';

const at = (iso: string): number => Date.parse(iso);
const iso = (ms: number): string => new Date(ms).toISOString();

describe('periodWindow', () => {
  it('a UTC day runs from midnight to midnight UTC', () => {
    const w = periodWindow('daily', 'UTC', at('2026-05-17T13:45:00Z'));
    expect(w.key).toBe('2026-05-17');
    expect(iso(w.start_ms)).toBe('2026-05-17T00:00:00.000Z');
    expect(iso(w.end_ms)).toBe('2026-05-18T00:00:00.000Z');
  });

  it('a UTC month runs from the 1st to the 1st, also across a leap February', () => {
    const w = periodWindow('monthly', 'UTC', at('2028-02-29T23:59:59.999Z'));
    expect(w.key).toBe('2028-02');
    expect(iso(w.start_ms)).toBe('2028-02-01T00:00:00.000Z');
    expect(iso(w.end_ms)).toBe('2028-03-01T00:00:00.000Z');
  });

  it("an injected clock at a time zone's midnight: the last millisecond of one day, then the next day", () => {
    // Asia/Kolkata is UTC+05:30, so its midnight is 18:30 UTC of the day before.
    const before = periodWindow('daily', 'Asia/Kolkata', at('2026-01-14T18:29:59.999Z'));
    const after = periodWindow('daily', 'Asia/Kolkata', at('2026-01-14T18:30:00.000Z'));
    expect(before.key).toBe('2026-01-14');
    expect(iso(before.end_ms)).toBe('2026-01-14T18:30:00.000Z');
    expect(after.key).toBe('2026-01-15');
    expect(after.start_ms).toBe(before.end_ms);
    expect(iso(after.end_ms)).toBe('2026-01-15T18:30:00.000Z');
  });

  it('a spring-forward day in New York lasts 23 hours, a fall-back day 25', () => {
    const spring = periodWindow('daily', 'America/New_York', at('2026-03-08T12:00:00Z'));
    expect(spring.key).toBe('2026-03-08');
    expect(iso(spring.start_ms)).toBe('2026-03-08T05:00:00.000Z'); // midnight EST (UTC-5)
    expect(iso(spring.end_ms)).toBe('2026-03-09T04:00:00.000Z'); // midnight EDT (UTC-4)
    expect((spring.end_ms - spring.start_ms) / 3_600_000).toBe(23);

    const fall = periodWindow('daily', 'America/New_York', at('2026-11-01T12:00:00Z'));
    expect(iso(fall.start_ms)).toBe('2026-11-01T04:00:00.000Z');
    expect(iso(fall.end_ms)).toBe('2026-11-02T05:00:00.000Z');
    expect((fall.end_ms - fall.start_ms) / 3_600_000).toBe(25);
  });

  it('a monthly period in a zone changes at local midnight of the 1st, across DST', () => {
    // Europe/Berlin: March 2026 starts in CET (UTC+1) and ends in CEST (UTC+2).
    const march = periodWindow('monthly', 'Europe/Berlin', at('2026-03-15T10:00:00Z'));
    expect(march.key).toBe('2026-03');
    expect(iso(march.start_ms)).toBe('2026-02-28T23:00:00.000Z');
    expect(iso(march.end_ms)).toBe('2026-03-31T22:00:00.000Z');
    // 22:30 UTC on March 31st is already April 1st in Berlin.
    expect(periodWindow('monthly', 'Europe/Berlin', at('2026-03-31T22:30:00Z')).key).toBe('2026-04');
  });

  it('where a zone skips midnight itself, the day starts at its first instant', () => {
    // Chile (America/Santiago) springs forward at 24:00 on 2025-09-06: 2025-09-07 starts at 01:00 local.
    const w = periodWindow('daily', 'America/Santiago', at('2025-09-07T12:00:00Z'));
    expect(w.key).toBe('2025-09-07');
    expect(iso(w.start_ms)).toBe('2025-09-07T04:00:00.000Z'); // 00:00 CLT (UTC-4) would be 04:00Z; 01:00 CLST (UTC-3) is the same instant
    const previous = periodWindow('daily', 'America/Santiago', w.start_ms - 1);
    expect(previous.key).toBe('2025-09-06');
    expect(previous.end_ms).toBe(w.start_ms);
    expect((w.end_ms - w.start_ms) / 3_600_000).toBe(23);
  });

  it('consecutive periods tile time with no gap and no overlap (a year of days in Sydney)', () => {
    let w = periodWindow('daily', 'Australia/Sydney', at('2026-01-01T00:00:00Z'));
    for (let i = 0; i < 366; i++) {
      const next = periodWindow('daily', 'Australia/Sydney', w.end_ms);
      expect(next.start_ms).toBe(w.end_ms);
      expect(next.key > w.key).toBe(true);
      expect(periodWindow('daily', 'Australia/Sydney', w.end_ms - 1).key).toBe(w.key);
      w = next;
    }
  });

  it('refuses an unknown zone', () => {
    expect(() => periodWindow('daily', 'Mars/Olympus_Mons', 0)).toThrow(/unknown time zone/);
  });
});

describe('time zone names', () => {
  it('knows IANA zones and spells them canonically', () => {
    expect(isValidTimeZone('Europe/Berlin')).toBe(true);
    expect(isValidTimeZone('UTC')).toBe(true);
    expect(canonicalTimeZone('europe/berlin')).toBe('Europe/Berlin');
    expect(canonicalTimeZone('Mars/Olympus_Mons')).toBeNull();
    expect(canonicalTimeZone('+02:00')).toBeNull();
    expect(canonicalTimeZone('')).toBeNull();
  });
});

describe('PeriodCalendar', () => {
  it('answers what periodWindow answers, also when the instant moves to another period', () => {
    const calendar = new PeriodCalendar();
    const instants = ['2026-03-08T04:59:59.999Z', '2026-03-08T05:00:00Z', '2026-03-08T20:00:00Z', '2026-03-09T04:00:00Z', '2026-03-07T10:00:00Z'];
    for (const i of instants) {
      expect(calendar.windowAt('daily', 'America/New_York', at(i))).toEqual(periodWindow('daily', 'America/New_York', at(i)));
    }
  });
});
