import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Drops the template and every test database this run left behind. */
export default function globalTeardown() {
  const script = fileURLToPath(new URL('./template-db.ts', import.meta.url));
  execFileSync(process.execPath, ['--import', 'tsx', script, 'drop'], { stdio: 'inherit', env: process.env });
}
