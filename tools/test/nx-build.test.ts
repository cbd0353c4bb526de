// `nx build` itself, in a scratch copy of this workspace: the cache never hands back an executable
// whose compiled-in list disagrees with the module files on disk; builds are reproducible; a bad
// module set fails the build.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error: build tools are plain .mjs
import { builtModulesDir } from '../build/paths.mjs';
import { workspaceRoot } from '../test-support/executables.ts';

let copy: string;
const SKIP = new Set(['node_modules', 'dist', 'dist-static', '.nx', '.git', 'generated']);

beforeAll(() => {
  copy = mkdtempSync(join(tmpdir(), 'tessera-nx-'));
  cpSync(workspaceRoot, copy, {
    recursive: true,
    filter: (src) => !SKIP.has(src.split('/').pop()!),
  });
  symlinkSync(join(workspaceRoot, 'node_modules'), join(copy, 'node_modules'));
});
afterAll(() => rmSync(copy, { recursive: true, force: true }));

function nx(...args: string[]) {
  const result = spawnSync(join(copy, 'node_modules/.bin/nx'), args, {
    cwd: copy,
    encoding: 'utf8',
    env: { ...process.env, NX_NO_CLOUD: 'true', NX_DAEMON: 'false', NX_TUI: 'false', NX_SKIP_NATIVE_FILE_CACHE: 'true' },
    timeout: 240_000,
  });
  return { code: result.status, output: `${result.stdout}${result.stderr}` };
}

function httpModuleState() {
  const exe = join(copy, 'packages/img-tool/dist/tessera-img.cjs');
  const result = spawnSync(process.execPath, [exe, '--list-modules', '--output=json'], { encoding: 'utf8' });
  const report = JSON.parse(result.stdout) as { modules: { name: string; state: { status: string } }[] };
  return report.modules.find((m) => m.name === 'block-http')!.state.status;
}

const sha = (path: string) => {
  const bytes = readFileSync(path.startsWith('/') ? path : join(copy, path));
  return createHash('sha256').update(bytes).digest('hex');
};
const moduleSource = 'packages/modules/block-http/src/index.ts';

describe('nx build img-tool', () => {
  it('never restores an executable whose list disagrees with the module files', () => {
    expect(nx('build', 'img-tool').code).toBe(0);
    expect(httpModuleState()).toBe('installed');
    const original = readFileSync(join(copy, moduleSource), 'utf8');

    writeFileSync(join(copy, moduleSource), `${original}\n// a change to the module's source\n`);
    expect(nx('build', 'img-tool').code).toBe(0);
    expect(httpModuleState()).toBe('installed');

    writeFileSync(join(copy, moduleSource), original); // back: both come from the cache now
    const back = nx('build', 'img-tool');
    expect(back.code).toBe(0);
    expect(back.output).toContain('cache');
    expect(httpModuleState()).toBe('installed');
  });

  it('gives byte-identical outputs for two builds of one tree', () => {
    const outputs = ['packages/img-tool/dist/tessera-img.cjs', join((builtModulesDir as (root: string) => string)(copy), 'block-http.cjs')];
    expect(nx('build', 'img-tool', '--skip-nx-cache').code).toBe(0);
    const first = outputs.map(sha);
    expect(nx('build', 'img-tool', '--skip-nx-cache').code).toBe(0);
    expect(outputs.map(sha)).toEqual(first);
  });

  it('fails, naming the module, when the image tool lists a display module', () => {
    const dir = join(copy, 'packages/modules/ui-fake');
    mkdirSync(join(dir, 'src'), { recursive: true });
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: '@tessera/ui-fake', version: '0.1.0', tessera: { name: 'ui-fake', category: 'ui' } }));
    writeFileSync(join(dir, 'project.json'), JSON.stringify({ name: 'ui-fake' }));
    writeFileSync(join(dir, 'src/index.ts'), "export default { name: 'ui-fake', inits: [] };");
    const appPkgPath = join(copy, 'packages/img-tool/package.json');
    const appPkg = JSON.parse(readFileSync(appPkgPath, 'utf8'));
    appPkg.tessera.modules['ui-fake'] = 'loadable';
    writeFileSync(appPkgPath, JSON.stringify(appPkg));
    const result = nx('build', 'img-tool');
    expect(result.code).not.toBe(0);
    expect(result.output).toContain('module ui-fake is a ui module; this executable accepts only block modules');
  });
});
