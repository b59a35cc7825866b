/**
 * Every command a Redis server runs, as MONITOR prints it, for tests that check which keys a
 * process touches.
 *
 * A plain socket, not ioredis's `monitor()`: ioredis enters its monitoring state one microtask
 * after MONITOR's "+OK", so when other clients are busy, the lines that arrive in the same read as
 * the "+OK" find no command waiting and the instance emits "Command queue state error" (an
 * unhandled 'error' that fails the test; seen in a full run). Here the "+OK" is awaited, and every
 * line after it is one command.
 */
import { connect, type Socket } from 'node:net';

export interface RedisMonitor {
  /** The commands seen so far, one MONITOR line each (`1796289595.35 [0 lua] "INCR" "key"`). */
  readonly lines: readonly string[];
  stop(): void;
}

/** Starts watching `redisUrl` (redis://host:port, no password); resolves once MONITOR is on. */
export async function monitorRedis(redisUrl: string): Promise<RedisMonitor> {
  const url = new URL(redisUrl);
  const socket: Socket = connect({ host: url.hostname, port: Number(url.port || 6379) });
  const lines: string[] = [];
  const on = new Promise<void>((resolve, reject) => {
    // The first line answers MONITOR; every line after it is one command.
    let answered = false;
    let buffered = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      let end: number;
      while ((end = buffered.indexOf('\r\n')) !== -1) {
        const line = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        if (answered) {
          // Every line of MONITOR's stream is a simple string: "+<time> [<db> <client>] <args>".
          lines.push(line.startsWith('+') ? line.slice(1) : line);
        } else {
          answered = true;
          if (line === '+OK') resolve();
          else reject(new Error(`MONITOR refused: ${line}`));
        }
      }
    });
    socket.once('error', reject);
  });
  socket.write('MONITOR\r\n');
  try {
    await on;
  } catch (error) {
    // A refused watch leaves no connection behind.
    socket.destroy();
    throw error;
  }
  return { lines, stop: () => socket.destroy() };
}
