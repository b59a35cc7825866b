/**
 * Resident memory (RSS) of the processes the bench starts, read from /proc/<pid>/status: each
 * process is sampled once it is ready ("idle") and again just before it is stopped, after the
 * section's load ("after"), with the peak the kernel saw (VmHWM). bench/run.ts prints every
 * sample in one table and writes them to latest.json.
 */
import { readFileSync } from 'node:fs';

export interface RssSample {
  rss_mb: number;
  /** Highest RSS of the process so far (VmHWM). */
  peak_mb: number;
}

export interface RssRow {
  section: string;
  process: string;
  pid: number;
  idle: RssSample | null;
  after: RssSample | null;
}

const mb = (kib: number): number => Math.round((kib / 1024) * 10) / 10;

/** VmRSS and VmHWM of a live process; null when it is gone (or not Linux). */
export function readRss(pid: number): RssSample | null {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return null;
  }
  const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rss_mb: mb(field('VmRSS')), peak_mb: mb(field('VmHWM')) };
}

/** Every process the bench started, in the order they were ready. */
class RssLedger {
  /** The section running now (set by bench/run.ts). */
  section = '';
  private readonly rows: RssRow[] = [];

  idle(process: string, pid: number): void {
    this.rows.push({ section: this.section, process, pid, idle: readRss(pid), after: null });
  }

  /** Called before a process is stopped; the latest row of that pid gets the sample. */
  after(pid: number): void {
    const row = this.rows.findLast((r) => r.pid === pid);
    if (row) row.after = readRss(pid);
  }

  all(): readonly RssRow[] {
    return this.rows;
  }
}

export const rssLedger = new RssLedger();
