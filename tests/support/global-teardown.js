import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Drops the template and every test database this run left behind (once, however many tiers ran). */
export default function globalTeardown() {
  if (process.env.MR_TEST_TEMPLATE_READY !== process.env.MR_TEST_RUN_ID) return;
  const script = fileURLToPath(new URL('./template-db.ts', import.meta.url));
  execFileSync(process.execPath, ['--conditions=development', '--import', 'tsx', script, 'drop'], { stdio: 'inherit', env: process.env });
  delete process.env.MR_TEST_TEMPLATE_READY;
}
