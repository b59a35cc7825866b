/**
 * The README's gateway and API key examples run as written against `make up`: the curl calls and
 * the Node script with the official `openai` client are taken from the README's Gateway and API
 * keys sections, only the API's address is replaced by this test's port.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ADMIN_KEY, createTestEnv, type Spawned, startSystem, type TestEnv } from '../support/index.js';
import { readmeBlock, runBash, runNodeExample } from '../support/readme-examples.js';

let env: TestEnv;
let system: Spawned;
let apiUrl: string;

/** The JSON objects printed one after another (curl adds no newline after a body). */
function jsonValues(text: string): Array<Record<string, unknown>> {
  const values: Array<Record<string, unknown>> = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{') {
      if (depth++ === 0) start = i;
    } else if (c === '}' && --depth === 0) values.push(JSON.parse(text.slice(start, i + 1)) as Record<string, unknown>);
  }
  return values;
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
    const stdout = await runBash(script);
    const body = JSON.parse(stdout) as { object: string; model: string; choices: Array<{ message: { content: string } }> };
    expect(body.object).toBe('chat.completion');
    expect(body.choices[0]!.message.content).toContain(`mock response from ${body.model}`);
  });

  it('the Node example with the official openai client runs and prints the answers', async () => {
    const stdout = await runNodeExample('e2e', readmeBlock('js').replaceAll('http://127.0.0.1:9004', apiUrl));
    expect(stdout).toContain('mock response from claude-haiku-4-5');
    expect(stdout).toMatch(/claude-haiku-4-5 \d/);
    expect(stdout).toContain('completion_tokens');
  });

  it("the API keys example runs as written: create, route with the key, disable, rotate, delete", async () => {
    const script = readmeBlock('bash', '## API keys').replaceAll('localhost:9004', apiUrl);
    const stdout = await runBash(`set -e\n${script}`, { ...process.env, ADMIN_API_KEY: ADMIN_KEY });
    const [created, routed, disabled, rotated] = jsonValues(stdout);
    expect(created).toMatchObject({ name: 'search team', rpm: 600, tpm: 200000, allowed_providers: ['openai', 'anthropic'] });
    expect(created!.secret).toMatch(/^mr-[A-Za-z0-9_-]{43}$/);
    // The key may only use the providers it allows.
    expect(['openai', 'anthropic']).toContain(routed!.provider);
    expect(disabled).toMatchObject({ id: created!.id, enabled: false });
    expect(rotated!.secret).toMatch(/^mr-[A-Za-z0-9_-]{43}$/);
    expect(rotated!.secret).not.toBe(created!.secret);
    // Deleted: the API is open again (no key left), but never to that key's secrets.
    const res = await fetch(`${apiUrl}/api/v1/keys/${created!.id as string}`, { headers: { Authorization: `Bearer ${ADMIN_KEY}` } });
    expect(res.status).toBe(404);
    for (const secret of [created!.secret, rotated!.secret] as string[]) {
      const route = await fetch(`${apiUrl}/api/v1/route`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
        body: JSON.stringify({ prompt: 'hello', max_tokens: 10 }),
      });
      expect(route.status).toBe(403);
    }
  });
});
