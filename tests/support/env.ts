/** Where the tests find Postgres and Redis: TEST_DATABASE_URL / TEST_REDIS_URL, else this machine's. */
export const PG_BASE = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/**
 * One test run's databases share an id, so parallel runs on one machine do not collide. The global
 * setup sets it; jest's workers inherit it through the environment.
 */
export function runId(): string {
  process.env.MR_TEST_RUN_ID ??= String(process.pid);
  return process.env.MR_TEST_RUN_ID;
}

export const templateDb = (): string => `mr_test_template_${runId()}`;
export const testDbPrefix = (): string => `mr_test_${runId()}_`;

export function databaseUrl(name: string): string {
  const url = new URL(PG_BASE);
  url.pathname = `/${name}`;
  return url.toString();
}

export function adminUrl(): string {
  return databaseUrl('postgres');
}
