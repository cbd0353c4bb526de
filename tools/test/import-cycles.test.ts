// No import cycles in any workspace's src/ (the project's rule), checked by tools/import-cycles.mjs;
// and that the checker finds the cycles it is meant to find (type-only, re-exports, across packages
// through their names) and not a lazy import().
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '../..');
const script = join(root, 'tools/import-cycles.mjs');
const check = (workspace: string) => spawnSync(process.execPath, [script, workspace], { encoding: 'utf8' });

describe('import cycles', () => {
  it('none in the workspaces', () => {
    const result = check(root);
    expect(result.stdout).toBe('no import cycles\n');
    expect(result.status).toBe(0);
  });

  const fixture = mkdtempSync(join(tmpdir(), 'tessera-import-cycles-'));
  afterAll(() => rmSync(fixture, { recursive: true, force: true }));
  const file = (path: string, text: string) => {
    mkdirSync(dirname(join(fixture, path)), { recursive: true });
    writeFileSync(join(fixture, path), text);
  };

  it('finds type-only, re-export and cross-package cycles, not lazy imports', () => {
    file('package.json', JSON.stringify({ workspaces: ['packages/*'] }));
    const pkg = (name: string) => JSON.stringify({ name: `@fx/${name}`, exports: { '.': { types: './src/index.ts', 'tessera-source': './src/index.ts' } } });
    file('packages/one/package.json', pkg('one'));
    file('packages/two/package.json', pkg('two'));
    // A state type named by an operation that the state's file imports (the qcow2 tangle).
    file('packages/one/src/image.ts', "import { resize } from './ops/resize.ts';\nexport class Image { resize = resize; }\n");
    file('packages/one/src/ops/resize.ts', "import type { Image } from '../image.ts';\nexport function resize(image: Image) { return image; }\n");
    // Across packages, by package name, through a re-export.
    file('packages/one/src/index.ts', "export { twice } from '@fx/two';\nexport const once = 1;\n");
    file('packages/two/src/index.ts', "import { once } from '@fx/one';\nexport const twice = once * 2;\n");
    // A lazy import back is no cycle.
    file('packages/two/src/lazy.ts', "export const load = () => import('./eager.ts');\n");
    file('packages/two/src/eager.ts', "import { load } from './lazy.ts';\nexport const again = load;\n");

    const result = check(fixture);
    expect(result.status).toBe(1);
    const lines = result.stdout.trim().split('\n');
    expect(lines).toEqual([
      'import cycle among 2 files: packages/one/src/image.ts -> packages/one/src/ops/resize.ts -> packages/one/src/image.ts',
      'import cycle among 2 files: packages/one/src/index.ts -> packages/two/src/index.ts -> packages/one/src/index.ts',
      '2 import cycle(s): move what both sides need into a module that imports neither',
    ]);
  });
});
