/**
 * The image's HEALTHCHECK: GET /readyz of the process this container runs, on the port the
 * configuration gives it. Exit 0 when ready, 1 otherwise. The process is the one PID 1 runs: the
 * entrypoint starts each service from its folder services/<name>, whether it was chosen by argument
 * or by $SERVICE; $SERVICE (then api) only when that folder cannot be read.
 */
import { readlinkSync } from 'node:fs';
import { basename } from 'node:path';
import { loadConfig, SERVICE_NAMES, servicePort } from '@model-router/config';

function runningService() {
  try {
    const folder = basename(readlinkSync('/proc/1/cwd'));
    if (SERVICE_NAMES.includes(folder)) return folder;
  } catch {
    // not readable here: fall back to the variable
  }
  return process.env.SERVICE || 'api';
}

const service = runningService();
if (!SERVICE_NAMES.includes(service)) {
  console.error(`healthcheck: unknown service "${service}"`);
  process.exit(1);
}
const port = servicePort(loadConfig(), service);
try {
  const res = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(2500) });
  if (!res.ok) console.error(`healthcheck: ${service} /readyz answered ${res.status}`);
  process.exit(res.ok ? 0 : 1);
} catch (error) {
  console.error(`healthcheck: ${service} /readyz on port ${port}: ${error.message}`);
  process.exit(1);
}
