// The format modules load only for their own images (traced with strace): `info` of a VHD opens
// block-vpc.cjs and no other module file, of a VHDX block-vhdx.cjs only, of a raw image none.
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { executable, run } from '../../../../tools/test-support/executables.ts';
import { sh, tempDir } from './helpers.ts';

const { dir, remove } = tempDir('tessera-lazy-');
afterAll(remove);
beforeAll(() => {
  sh(dir, 'qemu-img', ['create', '-q', '-f', 'vpc', 'a.vpc', '4M']);
  sh(dir, 'qemu-img', ['create', '-q', '-f', 'vhdx', 'a.vhdx', '4M']);
  sh(dir, 'qemu-img', ['create', '-q', '-f', 'raw', 'a.raw', '4M']);
});

async function moduleFilesOpened(image: string): Promise<string[]> {
  const trace = join(dir, `trace-${image}`);
  const result = await run(executable('img-tool', 'modular'), ['info', image], { cwd: dir, wrapper: ['strace', '-f', '-qq', '-e', 'trace=%file', '-o', trace] });
  expect(result.code).toBe(0);
  const names = [...readFileSync(trace, 'utf8').matchAll(/"[^"]*\/((?:block|ui|net)-[a-z0-9-]+\.cjs)"/g)].map((m) => m[1]!);
  rmSync(trace);
  return [...new Set(names)].sort();
}

it('info loads only the module of the image\'s format', async () => {
  expect(await moduleFilesOpened('a.vpc')).toEqual(['block-vpc.cjs']);
  expect(await moduleFilesOpened('a.vhdx')).toEqual(['block-vhdx.cjs']);
  expect(await moduleFilesOpened('a.raw')).toEqual([]);
});
