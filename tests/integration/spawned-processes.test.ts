/**
 * The tests' own process starter (tests/support/processes.ts): a stop reaches every process the
 * command started, also after the command itself has exited, and only those.
 */
import { describe, expect, it } from '@jest/globals';
import { existsSync, readFileSync } from 'node:fs';
import { spawnCommand } from '../support/processes.js';

const alive = (pid: number): boolean => existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));

describe('spawnCommand().stop()', () => {
  it('ends a process the command left behind in its group after the command itself exited', async () => {
    // The shell starts a sleeper in its group, prints its pid and exits at once.
    const spawned = spawnCommand('sh', ['-c', 'sleep 60 & echo "sleeper $!"'], { cwd: process.cwd(), env: process.env });
    await spawned.waitForOutput(/sleeper \d+/, 10_000);
    const sleeper = Number(/sleeper (\d+)/.exec(spawned.output())![1]);
    await new Promise<void>((resolve) => (spawned.child.exitCode !== null ? resolve() : spawned.child.once('exit', () => resolve())));
    expect(alive(sleeper)).toBe(true);
    expect(await spawned.stop()).toBe(0);
    expect(alive(sleeper)).toBe(false);
  });

  it('ends the command and everything it started while it runs', async () => {
    const spawned = spawnCommand('sh', ['-c', 'sleep 60 & echo "sleeper $!"; wait'], { cwd: process.cwd(), env: process.env });
    await spawned.waitForOutput(/sleeper \d+/, 10_000);
    const sleeper = Number(/sleeper (\d+)/.exec(spawned.output())![1]);
    await spawned.stop();
    expect(alive(sleeper)).toBe(false);
    expect(alive(spawned.child.pid!)).toBe(false);
  });
});
