import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Creates the migrated template database once per run; the id is inherited by jest's workers. */
export default function globalSetup() {
  process.env.MR_TEST_RUN_ID ??= String(process.pid);
  const script = fileURLToPath(new URL('./template-db.ts', import.meta.url));
  execFileSync(process.execPath, ['--import', 'tsx', script, 'create'], { stdio: 'inherit', env: process.env });
}
