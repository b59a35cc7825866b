/**
 * The bench's API keys, made in this one place. Production mode (which every bench server runs in)
 * refuses the shipped development admin key and wants a client key on the route and ingestion endpoints, so the
 * bench brings its own: bench/servers/api.ts imports them, a service started from its own main.ts gets
 * them through `serviceKeyEnv()` (startWorker in services.ts), and every request the bench sends carries them —
 * `callJson` in services.ts and each autocannon load in load.ts.
 *
 * BENCH_ADMIN_API_KEY / BENCH_CLIENT_API_KEY choose other keys. The defaults are fixed (not random)
 * so a child process — a bench server, the load generator — that reads this module finds the same
 * keys as the bench process; they guard a loopback server on a throwaway database, not a secret.
 */

export const BENCH_ADMIN_KEY = process.env.BENCH_ADMIN_API_KEY || 'bench-admin-key-not-a-secret';
export const BENCH_CLIENT_KEY = process.env.BENCH_CLIENT_API_KEY || 'bench-client-key-not-a-secret';

/** The variables a service's own main.ts reads its keys from (config's ADMIN_API_KEY, CLIENT_API_KEY). */
export function serviceKeyEnv(): Record<string, string> {
  return { ADMIN_API_KEY: BENCH_ADMIN_KEY, CLIENT_API_KEY: BENCH_CLIENT_KEY };
}

/** The header a client request (route, metrics ingestion) sends. */
export function clientAuthorization(): { authorization: string } {
  return { authorization: `Bearer ${BENCH_CLIENT_KEY}` };
}

/** The header an admin request (models, budgets, A/B tests) sends. */
export function adminAuthorization(): { authorization: string } {
  return { authorization: `Bearer ${BENCH_ADMIN_KEY}` };
}
