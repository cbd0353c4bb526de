// An installed tree (tools/install.mjs) keeps the build tree's relative layout, so an installed
// executable finds the modules installed with it, and only those.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { workspaceRoot } from '../test-support/executables.ts';

const prefix = mkdtempSync(join(tmpdir(), 'tessera-prefix-'));
afterAll(() => rmSync(prefix, { recursive: true, force: true }));

function report(bin: string) {
  const result = spawnSync(join(prefix, 'bin', bin), ['--list-modules', '--output=json'], {
    encoding: 'utf8',
    env: { ...process.env, TESSERA_MODULE_DIR: '' },
  });
  expect(result.status).toBe(0);
  return JSON.parse(result.stdout) as { directories: { path: string }[]; modules: { name: string; state: { status: string; path?: string } }[] };
}

it('installed executables find their modules beside them, and report the ones not installed as missing', () => {
  execFileSync(process.execPath, [join(workspaceRoot, 'tools/install.mjs'), '--prefix', prefix, '--modules', 'block-raw']);
  const moduleDir = join(prefix, 'lib/tessera/modules/dist');
  for (const bin of ['tessera-img', 'tessera']) {
    const r = report(bin);
    expect(r.directories.map((d) => d.path)).toEqual([moduleDir]);
    expect(r.modules.find((m) => m.name === 'block-http')!.state.status).toBe('missing');
  }
  execFileSync(process.execPath, [join(workspaceRoot, 'tools/install.mjs'), '--prefix', prefix]);
  const http = report('tessera-img').modules.find((m) => m.name === 'block-http')!;
  expect(http.state).toEqual({ status: 'installed', path: join(moduleDir, 'block-http.mjs') });
});

it('installs the image tool with the program and code cache its launcher runs', () => {
  execFileSync(process.execPath, [join(workspaceRoot, 'tools/install.mjs'), '--prefix', prefix]);
  const result = spawnSync(join(prefix, 'bin', 'tessera-img'), ['--version'], { encoding: 'utf8', env: { ...process.env, TESSERA_REPORT_CODE_CACHE: '1' } });
  expect(result).toMatchObject({ status: 0, stderr: 'code cache: used\n' });
});

it('installs each executable with its image-lock addon, which the installed executable loads (it checks its digest)', () => {
  execFileSync(process.execPath, [join(workspaceRoot, 'tools/install.mjs'), '--prefix', prefix]);
  expect(existsSync(join(prefix, 'lib/tessera/img-tool/dist/tessera-img.ofd-lock.node'))).toBe(true);
  expect(existsSync(join(prefix, 'lib/tessera/emulator/dist/tessera.ofd-lock.node'))).toBe(true);
  const image = join(prefix, 'locked.qcow2');
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', image, '1M']);
  // info of a qcow2 takes image locks: it fails if the addon is missing or not the build's.
  const result = spawnSync(join(prefix, 'bin', 'tessera-img'), ['info', image], { encoding: 'utf8' });
  expect(result).toMatchObject({ status: 0, stderr: '' });
});
