/**
 * infra/Dockerfile, checked without a Docker engine (none runs here): every file it copies from
 * the build context exists and is not ignored, every stage it copies from is defined before, the
 * build stage runs `pnpm build` and the runtime copies production dependencies only, the runtime
 * runs as a non-root user with a health check, and what the entrypoint starts is what
 * `pnpm build` produces. tests/deploy/compiled-build.test.ts runs that entrypoint and health
 * check on the real build.
 */
import { accessSync, constants, existsSync, readFileSync, statSync } from 'node:fs';
import { join, posix } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { loadConfig, SERVICE_NAMES, servicePort } from '@model-router/config';
import { parse } from 'yaml';
import { ROOT } from '../support/index.js';

interface Instruction {
  keyword: string;
  args: string;
}

interface Stage {
  name: string;
  from: string;
  instructions: Instruction[];
}

/** Instructions in order: comments dropped, `\` continuations joined. */
function parseDockerfile(text: string): Instruction[] {
  const instructions: Instruction[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!pending && (line === '' || line.startsWith('#'))) continue;
    if (line.startsWith('#')) continue; // a comment inside a continued instruction
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    const full = `${pending}${line}`.trim();
    pending = '';
    const [keyword, ...rest] = full.split(/\s+/);
    instructions.push({ keyword: keyword!.toUpperCase(), args: rest.join(' ') });
  }
  return instructions;
}

function stagesOf(instructions: Instruction[]): { args: Record<string, string>; stages: Stage[] } {
  const args: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const instruction of instructions) {
    if (instruction.keyword === 'FROM') {
      const match = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(instruction.args);
      if (!match) throw new Error(`cannot read FROM ${instruction.args}`);
      stages.push({ from: match[1]!, name: match[2] ?? String(stages.length), instructions: [] });
    } else if (stages.length === 0 && instruction.keyword === 'ARG') {
      const [name, value = ''] = instruction.args.split('=');
      args[name!] = value;
    } else {
      stages.at(-1)?.instructions.push(instruction);
    }
  }
  return { args, stages };
}

/** COPY's flags, sources and destination (JSON or shell form). */
function copyParts(args: string): { from: string | null; sources: string[]; destination: string } {
  const words = args.startsWith('[') ? (JSON.parse(args) as string[]) : args.split(/\s+/);
  const flags = words.filter((w) => w.startsWith('--'));
  const paths = words.filter((w) => !w.startsWith('--'));
  const from = flags.find((f) => f.startsWith('--from='))?.slice('--from='.length) ?? null;
  return { from, sources: paths.slice(0, -1), destination: paths.at(-1)! };
}

/** .dockerignore patterns; a context path is ignored when it or a parent folder matches one. */
function ignoredBy(patterns: string[], path: string): boolean {
  const clean = path.replace(/^\.\//, '').replace(/\/$/, '');
  const parts = clean.split('/');
  return patterns.some((pattern) => {
    const body = pattern
      .split(/(\*\*\/|\*)/)
      .map((part) => (part === '**/' ? '(?:.*/)?' : part === '*' ? '[^/]*' : part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')))
      .join('');
    const regex = new RegExp(`^${body}$`);
    return parts.some((_, i) => regex.test(parts.slice(0, i + 1).join('/')));
  });
}

const dockerfile = readFileSync(join(ROOT, 'infra/Dockerfile'), 'utf8');
const { args, stages } = stagesOf(parseDockerfile(dockerfile));
const runtime = stages.at(-1)!;
const ignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));
const rootManifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  packageManager: string;
  scripts: Record<string, string>;
  devDependencies: Record<string, string>;
};
const entrypointScript = readFileSync(join(ROOT, 'infra/docker/entrypoint.sh'), 'utf8');

const named = (name: string): Stage => {
  const stage = stages.find((s) => s.name === name);
  if (!stage) throw new Error(`no stage ${name}`);
  return stage;
};
const runs = (stage: Stage): string => stage.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args).join('\n');

/** The runtime stage's working directory when an instruction runs (for container paths). */
function workdirAt(stage: Stage, index: number): string {
  let dir = '/';
  for (const instruction of stage.instructions.slice(0, index)) {
    if (instruction.keyword === 'WORKDIR') dir = posix.resolve(dir, instruction.args);
  }
  return dir;
}

/** Container path → repository path, for what the runtime stage copies from the build context. */
function contextPathOf(containerPath: string): string | null {
  for (const [index, instruction] of runtime.instructions.entries()) {
    if (instruction.keyword !== 'COPY') continue;
    const { from, sources, destination } = copyParts(instruction.args);
    if (from !== null || sources.length !== 1) continue;
    const target = posix.resolve(workdirAt(runtime, index), destination);
    if (containerPath.startsWith(`${target}/`)) return join(sources[0]!, containerPath.slice(target.length + 1));
  }
  return null;
}

describe('infra/Dockerfile', () => {
  it('has a build stage, a production-dependencies stage and a runtime stage', () => {
    expect(stages.map((s) => s.name)).toEqual(expect.arrayContaining(['build', 'prod-deps', 'runtime']));
    expect(runtime.name).toBe('runtime');
  });

  it('copies from the build context only files that exist and that .dockerignore keeps', () => {
    const sources = stages.flatMap((s) =>
      s.instructions.filter((i) => i.keyword === 'COPY').map((i) => copyParts(i.args)).filter((c) => c.from === null).flatMap((c) => c.sources),
    );
    expect(sources.length).toBeGreaterThan(0);
    for (const source of sources) {
      expect({ source, exists: existsSync(join(ROOT, source)) }).toEqual({ source, exists: true });
      if (source !== '.') expect({ source, ignored: ignoredBy(ignore, source) }).toEqual({ source, ignored: false });
    }
  });

  it('keeps dependencies, the build and git out of the context', () => {
    for (const path of ['node_modules', 'services/api/node_modules', 'services/api/dist', 'packages/config/dist', '.git']) {
      expect({ path, ignored: ignoredBy(ignore, path) }).toEqual({ path, ignored: true });
    }
    for (const path of ['services/api/src/main.ts', 'configs/model-router.yaml', 'migrations', 'pnpm-lock.yaml']) {
      expect({ path, ignored: ignoredBy(ignore, path) }).toEqual({ path, ignored: false });
    }
  });

  it('copies only from stages defined before', () => {
    stages.forEach((stage, index) => {
      const earlier = new Set(stages.slice(0, index).map((s) => s.name));
      for (const instruction of stage.instructions.filter((i) => i.keyword === 'COPY')) {
        const { from } = copyParts(instruction.args);
        if (from !== null) expect({ stage: stage.name, from, defined: earlier.has(from) }).toEqual({ stage: stage.name, from, defined: true });
      }
      // A stage based on another stage must come after it.
      if (stages.some((s) => s.name === stage.from)) expect(earlier.has(stage.from)).toBe(true);
    });
  });

  it('builds with the repository build command and the pinned pnpm and Node', () => {
    expect(runs(named('build'))).toMatch(/\bpnpm build\b/);
    expect(rootManifest.scripts.build).toBe('tsc --build tsconfig.build.json');
    expect(dockerfile).toContain(`npm install --global ${rootManifest.packageManager}`);
    const nodeMajor = /node@(\d+)/.exec(rootManifest.devDependencies['nodejs-runtime']!)![1];
    expect(args.NODE_IMAGE).toMatch(new RegExp(`^node:${nodeMajor}-`));
    expect(stages.filter((s) => s.from.startsWith('$')).map((s) => s.from)).toEqual(stages.filter((s) => s.from.startsWith('$')).map(() => '${NODE_IMAGE}'));
  });

  it('gives the runtime production dependencies only and no sources', () => {
    expect(runs(named('prod-deps'))).toMatch(/pnpm install --prod --frozen-lockfile/);
    const copies = runtime.instructions.filter((i) => i.keyword === 'COPY').map((i) => copyParts(i.args));
    // node_modules come only from the --prod install; from the build stage only its compiled output.
    expect(copies.filter((c) => c.from !== null).map((c) => `${c.from}:${c.sources.join(',')}`)).toEqual(['prod-deps:/app/', 'build:/out/']);
    expect(runs(named('build'))).toMatch(/tar -cf - packages\/\*\/dist services\/\*\/dist/);
    expect(runtime.instructions.some((i) => i.keyword === 'RUN' && /pnpm|npm install/.test(i.args))).toBe(false);
    // Production mode is the deployment's choice (NODE_ENV), so compose can run the image in development.
    expect(runtime.instructions.filter((i) => i.keyword === 'ENV' && /NODE_ENV/.test(i.args))).toEqual([]);
  });

  it('caps the young generation as the benches measured it (the PRODUCTION_V8_FLAG the memory and gateway sections start services with)', () => {
    const env = runtime.instructions.filter((i) => i.keyword === 'ENV' && /NODE_OPTIONS/.test(i.args)).map((i) => i.args);
    expect(env).toEqual(['NODE_OPTIONS="--max-semi-space-size=8"']);
    expect(readFileSync(join(ROOT, 'bench/lib/child.ts'), 'utf8')).toContain("export const PRODUCTION_V8_FLAG = '--max-semi-space-size=8';");
    expect(readFileSync(join(ROOT, 'bench/sections/memory.ts'), 'utf8')).toContain('NODE_OPTIONS: PRODUCTION_V8_FLAG,');
  });

  it('runs as a non-root user', () => {
    const users = runtime.instructions.filter((i) => i.keyword === 'USER').map((i) => i.args);
    expect(users.length).toBeGreaterThan(0);
    expect(['root', '0', '0:0']).not.toContain(users.at(-1));
  });

  it('has a health check and an entrypoint whose scripts the runtime stage copies', () => {
    const healthcheck = runtime.instructions.find((i) => i.keyword === 'HEALTHCHECK')!;
    expect(healthcheck.args).toMatch(/CMD \["node", "(\/app\/[^"]+)"\]/);
    const entrypoint = runtime.instructions.find((i) => i.keyword === 'ENTRYPOINT')!;
    for (const containerPath of [/"(\/app\/[^"]+)"/.exec(healthcheck.args)![1]!, (JSON.parse(entrypoint.args) as string[])[0]!]) {
      const source = contextPathOf(containerPath);
      expect({ containerPath, source }).toEqual({ containerPath, source: expect.any(String) });
      expect(statSync(join(ROOT, source!)).isFile()).toBe(true);
    }
    accessSync(join(ROOT, 'infra/docker/entrypoint.sh'), constants.X_OK);
    // A CMD would override $SERVICE with its argument.
    expect(runtime.instructions.some((i) => i.keyword === 'CMD')).toBe(false);
  });

  it('starts every service as `node dist/main.js`, a file `pnpm build` makes from src/main.ts', () => {
    const listed = /^\s*([a-z|\s-]+)\)\s*$/m.exec(entrypointScript)![1]!.split('|').map((s) => s.trim());
    expect(listed.sort()).toEqual([...SERVICE_NAMES].sort());
    expect(entrypointScript).toContain('exec node dist/main.js');
    for (const service of SERVICE_NAMES) {
      expect(existsSync(join(ROOT, 'services', service, 'src/main.ts'))).toBe(true);
      expect(existsSync(join(ROOT, 'services', service, 'tsconfig.build.json'))).toBe(true);
    }
    // migrate: the compiled migration command, from packages/database/src/migrate-cli.ts.
    expect(entrypointScript).toContain('exec node packages/database/dist/migrate-cli.js');
    expect(existsSync(join(ROOT, 'packages/database/src/migrate-cli.ts'))).toBe(true);
  });

  it("exposes each service's default port", () => {
    const config = loadConfig({ env: { ADMIN_API_KEY: 'a-key-of-sixteen-chars' } });
    const exposed = runtime.instructions.filter((i) => i.keyword === 'EXPOSE').flatMap((i) => i.args.split(/\s+/).map(Number));
    expect(exposed.sort()).toEqual(SERVICE_NAMES.map((s) => servicePort(config, s)).sort());
  });
});

describe('docker-compose.yml', () => {
  it('starts each Model Router service from the image by its entrypoint name', () => {
    const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
      services: Record<string, { build?: { dockerfile?: string }; command?: string[] }>;
    };
    const built = Object.entries(compose.services).filter(([, s]) => s.build?.dockerfile === 'infra/Dockerfile');
    expect(built.map(([name]) => name).sort()).toEqual([...SERVICE_NAMES].sort());
    for (const [name, service] of built) expect(service.command).toEqual([name]);
  });
});
