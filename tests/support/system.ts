/**
 * Starts the whole system exactly as the README says (`make up`) on a test's own database, Redis
 * prefix and free ports, and says where each process listens.
 */
import { fileURLToPath } from 'node:url';
import type { TestEnv } from './index.js';
import { freePort, type Spawned, spawnCommand } from './processes.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Every process `make up` starts, by the name it logs under. */
export const SERVICE_NAMES = ['api', 'mock-provider', 'metric-aggregator', 'health-checker', 'cache-invalidator', 'budget-enforcer'] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

export interface RunningSystem {
  process: Spawned;
  apiUrl: string;
  mockUrl: string;
  /** Where each process serves /metrics (the API and the mock provider on their own port). */
  urls: Record<ServiceName, string>;
}

export async function startSystem(env: TestEnv, extraEnv: Record<string, string> = {}): Promise<RunningSystem> {
  const ports = {} as Record<ServiceName, number>;
  for (const name of SERVICE_NAMES) ports[name] = await freePort();
  const urls = Object.fromEntries(SERVICE_NAMES.map((name) => [name, `http://127.0.0.1:${ports[name]}`])) as Record<ServiceName, string>;
  const process = spawnCommand('make', ['up'], {
    cwd: ROOT,
    env: env.processEnv({
      PORT: String(ports.api),
      MOCK_PROVIDER_PORT: String(ports['mock-provider']),
      METRIC_AGGREGATOR_PORT: String(ports['metric-aggregator']),
      HEALTH_CHECKER_PORT: String(ports['health-checker']),
      CACHE_INVALIDATOR_PORT: String(ports['cache-invalidator']),
      BUDGET_ENFORCER_PORT: String(ports['budget-enforcer']),
      CATALOG_ENDPOINT_BASE_URL: `${urls['mock-provider']}/v1`,
      LOG_LEVEL: 'info',
      ...extraEnv,
    }),
  });
  await process.waitForOutput('Model Router is up', 120_000);
  return { process, apiUrl: urls.api, mockUrl: urls['mock-provider'], urls };
}
