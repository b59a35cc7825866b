/** What the figures were measured on: printed with the tables and stored in latest.json. */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { join } from 'node:path';

export interface MachineInfo {
  cpus: number;
  cpu_model: string;
  memory_gib: number;
  os: string;
  node: string;
  express: string;
  autocannon: string;
}

function cpuModel(): string {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('model name'));
    if (line) return line.split(':').slice(1).join(':').trim();
  } catch {
    // not Linux: fall back to what Node reports
  }
  return os.cpus()[0]?.model ?? 'unknown';
}

function versionOf(rootDir: string, name: string): string {
  try {
    const require = createRequire(join(rootDir, 'package.json'));
    return (require(`${name}/package.json`) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

export function machineInfo(rootDir: string): MachineInfo {
  return {
    cpus: os.availableParallelism(),
    cpu_model: cpuModel(),
    memory_gib: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    express: versionOf(rootDir, 'express'),
    autocannon: versionOf(rootDir, 'autocannon'),
  };
}

/** Machine-wide CPU time from /proc/stat, in seconds (busy = everything but idle and iowait). */
export interface MachineCpu {
  busy_s: number;
  /** Interrupt and softirq time (loopback TCP is processed there), charged to no process. */
  irq_s: number;
  total_s: number;
}

const USER_HZ = 100;

export function machineCpu(): MachineCpu | null {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal …
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = fields;
    const busy = user + nice + system + irq + softirq + steal;
    return { busy_s: busy / USER_HZ, irq_s: (irq + softirq) / USER_HZ, total_s: (busy + idle + iowait) / USER_HZ };
  } catch {
    return null;
  }
}

/** CPU seconds a process has used so far, from /proc/<pid>/stat (null where there is none). */
export function processCpu(pid: number): { user_s: number; system_s: number } | null {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    // utime and stime are fields 14 and 15 of the whole line, in clock ticks.
    return { user_s: Number(fields[11]) / USER_HZ, system_s: Number(fields[12]) / USER_HZ };
  } catch {
    return null;
  }
}

/**
 * Measures how much CPU the whole machine spent over a stretch of work, so a figure taken while
 * something else ran (another build, a test suite) can be recognised as disturbed.
 */
export class CpuWindow {
  private readonly machineStart = machineCpu();
  private readonly selfStart = process.cpuUsage();
  private readonly wallStart = performance.now();

  /**
   * `accountedS`: CPU seconds of other processes that belong to the measurement (e.g. the server);
   * `generatorS`: CPU seconds of the bench's own load-generator process, counted as the bench's.
   */
  finish(accountedS = 0, generatorS = 0): {
    wall_s: number;
    machine_busy_cores: number;
    bench_cores: number;
    accounted_cores: number;
    irq_cores: number;
    other_cores: number;
  } | null {
    const end = machineCpu();
    if (!this.machineStart || !end) return null;
    const wall = (performance.now() - this.wallStart) / 1000;
    const self = process.cpuUsage(this.selfStart);
    const selfS = (self.user + self.system) / 1e6 + generatorS;
    const busyS = end.busy_s - this.machineStart.busy_s;
    const irqS = end.irq_s - this.machineStart.irq_s;
    const r = (x: number) => Math.round(x * 100) / 100;
    return {
      wall_s: r(wall),
      machine_busy_cores: r(busyS / wall),
      bench_cores: r(selfS / wall),
      accounted_cores: r(accountedS / wall),
      irq_cores: r(irqS / wall),
      other_cores: r(Math.max(0, busyS - irqS - selfS - accountedS) / wall),
    };
  }
}
