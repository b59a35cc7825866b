/**
 * The shape `pnpm build` relies on, for every workspace package and service (so a new package or
 * dependency cannot be left out of the build): a tsconfig.build.json that references exactly the
 * workspace packages it depends on, a place in the root build, and exports whose `default` is the
 * compiled file of the source that `types`/`development` name.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { parse } from 'yaml';
import { ROOT } from '../support/index.js';

interface Manifest {
  name: string;
  exports?: Record<string, string | Record<string, string>>;
  dependencies?: Record<string, string>;
  scripts?: Record<string, string>;
}

/** tsconfig files are JSON with comments; `yaml` reads JSON and skips `//` lines once removed. */
function readTsconfig(path: string): { extends?: string; references?: Array<{ path: string }> } {
  const text = readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => !line.trimStart().startsWith('//'))
    .join('\n');
  return parse(text) as { extends?: string; references?: Array<{ path: string }> };
}

const folders = ['packages', 'services'].flatMap((group) =>
  readdirSync(join(ROOT, group))
    .filter((name) => existsSync(join(ROOT, group, name, 'package.json')))
    .map((name) => `${group}/${name}`),
);
const manifests = new Map(folders.map((folder) => [folder, JSON.parse(readFileSync(join(ROOT, folder, 'package.json'), 'utf8')) as Manifest]));
const folderOf = new Map([...manifests].map(([folder, manifest]) => [manifest.name, folder]));

describe('the build configuration', () => {
  it('finds the workspace', () => {
    expect(folders).toEqual(expect.arrayContaining(['packages/config', 'services/api']));
  });

  it.each(folders)('%s: tsconfig.build.json references exactly its workspace dependencies', (folder) => {
    const config = readTsconfig(join(ROOT, folder, 'tsconfig.build.json'));
    expect(config.extends).toBe('../../tsconfig.build-base.json');
    const wanted = Object.keys(manifests.get(folder)!.dependencies ?? {})
      .filter((name) => folderOf.has(name))
      .map((name) => `../../${folderOf.get(name)}/tsconfig.build.json`)
      .sort();
    expect((config.references ?? []).map((r) => r.path).sort()).toEqual(wanted);
  });

  it('builds every package and service from the root', () => {
    const root = readTsconfig(join(ROOT, 'tsconfig.build.json'));
    expect((root.references ?? []).map((r) => r.path).sort()).toEqual(folders.map((f) => `./${f}/tsconfig.build.json`).sort());
  });

  it.each(folders)('%s: exports point to src for types and development, to the compiled file otherwise', (folder) => {
    const exports = manifests.get(folder)!.exports ?? {};
    expect(Object.keys(exports).length).toBeGreaterThan(0);
    for (const target of Object.values(exports)) {
      expect(typeof target).toBe('object');
      const conditions = target as Record<string, string>;
      // Order matters: Node and jest take the first condition they know.
      expect(Object.keys(conditions)).toEqual(['types', 'development', 'default']);
      expect(conditions.development).toBe(conditions.types);
      expect(existsSync(join(ROOT, folder, conditions.types!))).toBe(true);
      expect(conditions.types).toMatch(/^\.\/src\/.+\.ts$/);
      expect(conditions.default).toBe(conditions.types!.replace(/^\.\/src\//, './dist/').replace(/\.ts$/, '.js'));
    }
  });

  it.each(folders.filter((f) => f.startsWith('services/')))('%s: `start` runs the build, `dev` the sources', (folder) => {
    const scripts = manifests.get(folder)!.scripts ?? {};
    expect(scripts.start).toBe('node dist/main.js');
    expect(scripts.dev).toBe('tsx --conditions=development src/main.ts');
    expect(existsSync(join(ROOT, folder, 'src/main.ts'))).toBe(true);
  });
});
