/**
 * The load-generator process (see startLoadGenerator in load.ts): runs each load it is sent with
 * autocannon and answers with the result and the CPU it used.
 */
import { type LoadOptions, runLoadHere } from './load.js';

process.on('message', (message: { type: string; id?: number; options?: LoadOptions }) => {
  if (message.type === 'stop') {
    process.disconnect();
    return;
  }
  if (message.type !== 'run') return;
  const started = process.cpuUsage();
  runLoadHere(message.options!).then(
    (result) => {
      const cpu = process.cpuUsage(started);
      process.send!({ type: 'result', id: message.id, result: { ...result, generator_cpu_s: (cpu.user + cpu.system) / 1e6 } });
    },
    (error: unknown) => process.send!({ type: 'result', id: message.id, error: String(error) }),
  );
});
process.send!({ type: 'ready' });
