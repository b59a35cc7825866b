/**
 * The README's gateway examples run as written against `make up`: the curl call and the Node script
 * with the official `openai` client are taken from the README's Gateway section, only the API's
 * address is replaced by this test's port.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createTestEnv, ROOT, type Spawned, startSystem, type TestEnv } from '../support/index.js';

const run = promisify(execFile);
let env: TestEnv;
let system: Spawned;
let apiUrl: string;

/** The first code block of `lang` in the README's Gateway section. */
function readmeBlock(lang: string): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('## Gateway');
  const end = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, end);
  const match = new RegExp('```' + lang + '\\n([\\s\\S]*?)```').exec(section);
  if (!match) throw new Error(`no ${lang} block in the README's Gateway section`);
  return match[1]!;
}

beforeAll(async () => {
  env = await createTestEnv();
  const running = await startSystem(env);
  system = running.process;
  apiUrl = running.apiUrl;
}, 150_000);

afterAll(async () => {
  await system?.stop('SIGTERM');
  await env?.cleanup();
}, 60_000);

describe("the README's gateway examples against make up", () => {
  it('the curl example answers a chat.completion', async () => {
    const script = readmeBlock('bash').replaceAll('http://127.0.0.1:9004', apiUrl);
    const { stdout } = await run('bash', ['-c', script], { timeout: 30_000 });
    const body = JSON.parse(stdout) as { object: string; model: string; choices: Array<{ message: { content: string } }> };
    expect(body.object).toBe('chat.completion');
    expect(body.choices[0]!.message.content).toContain(`mock response from ${body.model}`);
  });

  it('the Node example with the official openai client runs and prints the answers', async () => {
    // Beside the tests' own node_modules, so `import OpenAI from 'openai'` resolves as in a user's project.
    const file = join(ROOT, 'tests', 'e2e', `.readme-gateway-${randomBytes(4).toString('hex')}.mjs`);
    writeFileSync(file, readmeBlock('js').replaceAll('http://127.0.0.1:9004', apiUrl));
    try {
      const { CLIENT_API_KEY: _unset, ...userEnv } = process.env;
      const { stdout } = await run(process.execPath, [file], { timeout: 60_000, env: userEnv });
      expect(stdout).toContain('mock response from claude-haiku-4-5');
      expect(stdout).toMatch(/claude-haiku-4-5 \d/);
      expect(stdout).toContain('completion_tokens');
    } finally {
      rmSync(file, { force: true });
    }
  });
});
