/**
 * Running the README's examples as written: its code blocks, run with bash or as a Node script
 * beside the tests' own node_modules (so `import OpenAI from 'openai'` resolves as in a user's
 * project), with only the API's address replaced by the test's.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from './system.js';

const run = promisify(execFile);

/** The first code block of `lang` in the README's section whose heading starts with `heading`. */
export function readmeBlock(lang: string, heading = '## Gateway'): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf(heading);
  const end = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, end);
  const match = new RegExp('```' + lang + '\\n([\\s\\S]*?)```').exec(section);
  if (!match) throw new Error(`no ${lang} block in the README's section ${heading}`);
  return match[1]!;
}

/** Runs a shell script with bash; returns what it printed. */
export async function runBash(script: string, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  return (await run('bash', ['-c', script], { timeout: 30_000, env })).stdout;
}

/**
 * Runs `source` as an ES module in `folder` (below tests/) as a user would, without the
 * CLIENT_API_KEY of the tests' environment; returns what it printed.
 */
export async function runNodeExample(folder: string, source: string): Promise<string> {
  const file = join(ROOT, 'tests', folder, `.readme-gateway-${randomBytes(4).toString('hex')}.mjs`);
  writeFileSync(file, source);
  try {
    const { CLIENT_API_KEY: _unset, ...userEnv } = process.env;
    return (await run(process.execPath, [file], { timeout: 60_000, env: userEnv })).stdout;
  } finally {
    rmSync(file, { force: true });
  }
}
