import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/**
 * Creates the migrated template database once per run; the id is inherited by jest's workers.
 * Several tiers (integration, e2e, browser) name this hook: jest runs it once for each, so the
 * template is made only the first time.
 */
export default function globalSetup() {
  process.env.MR_TEST_RUN_ID ??= String(process.pid);
  if (process.env.MR_TEST_TEMPLATE_READY === process.env.MR_TEST_RUN_ID) return;
  const script = fileURLToPath(new URL('./template-db.ts', import.meta.url));
  execFileSync(process.execPath, ['--conditions=development', '--import', 'tsx', script, 'create'], { stdio: 'inherit', env: process.env });
  process.env.MR_TEST_TEMPLATE_READY = process.env.MR_TEST_RUN_ID;
}
