// No source file is copied from one module into another: modules are separate bundles, so code
// they share lives once in packages/module-kit and the build bundles it into each (see its README).
// A cheap check by content hash over every module's src/; a file that only re-exports the kit (a
// module's errors.ts keeping its import sites) holds no code of its own and is left out.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '../..');
const modulesDir = join(root, 'packages/modules');

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'generated' ? [] : files(path);
    return entry.isFile() ? [path] : [];
  });
}

/** Only `export … from '…'` lines (and comments): a re-export, no code of its own. */
function onlyReExports(text: string): boolean {
  const lines = text.split('\n').map((line) => line.trim()).filter((line) => line !== '' && !line.startsWith('//'));
  return lines.length > 0 && lines.every((line) => /^export (\*|\{[^}]*\}) from '[^']+';$/.test(line));
}

/** Files of `dirs` (one per module) whose bytes stand in more than one module: each group by path. */
function copiesAcrossModules(dirs: readonly string[]): string[][] {
  const byDigest = new Map<string, string[]>();
  for (const dir of dirs) {
    for (const file of files(dir)) {
      const bytes = readFileSync(file);
      if (onlyReExports(bytes.toString('utf8'))) continue;
      const digest = createHash('sha256').update(bytes).digest('hex');
      byDigest.set(digest, [...(byDigest.get(digest) ?? []), relative(root, file)]);
    }
  }
  const moduleOf = (path: string) => path.split('/')[2];
  return [...byDigest.values()].filter((paths) => new Set(paths.map(moduleOf)).size > 1);
}

describe('module sources', () => {
  it('no file is the same in two modules (shared code belongs in packages/module-kit)', () => {
    const dirs = readdirSync(modulesDir, { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => join(modulesDir, entry.name, 'src'))
      .filter((dir) => existsSync(dir));
    expect(dirs.length).toBeGreaterThan(10);
    const copies = copiesAcrossModules(dirs).map((paths) => `${paths.join(' = ')}: move it into packages/module-kit and import it from there`);
    expect(copies).toEqual([]);
  });
});
