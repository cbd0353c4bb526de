// The test guest (tools/guest): built once and cached; its build script prints NAME=PATH lines.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { workspaceRoot } from '../../../../tools/test-support/executables.ts';

export interface Guest {
  readonly vmlinuz: string;
  readonly initrd: string;
  readonly disk: string;
}

let cached: Guest | undefined;

export function guest(): Guest {
  if (cached) return cached;
  const output = execFileSync(join(workspaceRoot, 'tools/guest/build.sh'), ['--quiet'], { encoding: 'utf8', timeout: 300_000 });
  const paths = new Map(output.trim().split('\n').map((line) => line.split('=', 2) as [string, string]));
  const [vmlinuz, initrd, disk] = ['vmlinuz', 'initrd', 'disk'].map((name) => {
    const path = paths.get(name);
    if (!path) throw new Error(`tools/guest/build.sh printed no ${name}= line:\n${output}`);
    return path;
  });
  cached = { vmlinuz: vmlinuz!, initrd: initrd!, disk: disk! };
  return cached;
}

/** The kernel command line for a `-kernel` boot running guest test `test`. */
export function kernelArgs(test: string, extra = ''): string[] {
  const g = guest();
  const append = `console=ttyS0 cryptomgr.notests=1 noisapnp nokaslr tessera.test=${test} ${extra}`.trim();
  return ['-kernel', g.vmlinuz, '-initrd', g.initrd, '-append', append];
}

/** A private copy of the guest's disk image (guests write into it). */
export function diskCopy(): string {
  const path = join(mkdtempSync(join(tmpdir(), 'tessera-emulator-test-')), 'disk.img');
  copyFileSync(guest().disk, path);
  return path;
}

/** A file in the FAT partition of a guest disk (at 1 MiB), read with mtools; undefined if absent. */
export function fatFile(image: string, name: string): string | undefined {
  try {
    return execFileSync('mtype', ['-i', `${image}@@1M`, `::${name}`], { encoding: 'utf8', env: { ...process.env, MTOOLS_SKIP_CHECK: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch {
    return undefined;
  }
}
