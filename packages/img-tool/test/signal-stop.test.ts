// SIGINT, SIGTERM and SIGHUP sent at many moments of a real run: tessera-img stops cleanly (the
// image it wrote is consistent: qemu-img check finds no error, nothing leaked) and ends as the
// real qemu-img does for the same signal, killed by it, no message.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executable } from '../../../tools/test-support/executables.ts';
import { runAndSignal } from '../../../tools/test-support/signalled-run.ts';

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-signal-stop-'));
  // Data with holes; rate-limited below, so a run lasts about 2 s.
  const parts: Buffer[] = [];
  for (let i = 0; i < 16; i++) parts.push(i % 4 === 3 ? Buffer.alloc(2 ** 20) : randomBytes(2 ** 20));
  writeFileSync(join(dir, 'source.raw'), Buffer.concat(parts));
  writeFileSync(join(dir, 'large.raw'), Buffer.concat([...parts, ...parts, ...parts, ...parts]));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));


const tessera = (args: readonly string[], signal: NodeJS.Signals, afterMs: number) => runAndSignal(process.execPath, [executable('img-tool', 'modular'), ...args], dir, signal, afterMs);

function expectClean(image: string): void {
  if (!existsSync(join(dir, image))) return; // signalled before the command began: nothing written, as with qemu-img
  const check = spawnSync('qemu-img', ['check', image], { cwd: dir, encoding: 'utf8' });
  expect(check.status, `${check.stdout}${check.stderr}`).toBe(0);
}

describe.each(['SIGINT', 'SIGTERM', 'SIGHUP'] as const)('%s', (signal) => {
  it('convert (default cache mode, and -t writeback): stopped at many moments, a clean image, the ending of qemu-img', async () => {
    const args = (cache: readonly string[], out: string) => ['convert', ...cache, '-r', '8M', '-O', 'qcow2', '-o', 'cluster_size=4k', 'source.raw', out];
    rmSync(join(dir, 'qemu.qcow2'), { force: true });
    const qemu = await runAndSignal('qemu-img', args([], 'qemu.qcow2'), dir, signal, 700);
    expect(qemu.signal).toBe(signal); // (what qemu-img does here: killed by the signal, silently)
    for (const [i, afterMs] of [150, 500, 900, 1300].entries()) {
      for (const cache of [[], ['-t', 'writeback']]) {
        const out = `out-${i}-${cache.length}.qcow2`;
        rmSync(join(dir, out), { force: true });
        const ending = await tessera(args(cache, out), signal, afterMs);
        expect({ code: ending.code, signal: ending.signal, stderr: ending.stderr }).toEqual({ code: qemu.code, signal: qemu.signal, stderr: qemu.stderr });
        expectClean(out);
      }
    }
  }, 120_000);

  it('commit: stopped mid-copy, both images clean, the overlay not emptied', async () => {
    let stopped = 0;
    for (const afterMs of [250, 400, 550]) {
      rmSync(join(dir, 'base.qcow2'), { force: true });
      spawnSync('qemu-img', ['create', '-q', '-f', 'qcow2', 'base.qcow2', '64M'], { cwd: dir });
      spawnSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', 'overlay.qcow2'], { cwd: dir });
      spawnSync('qemu-img', ['convert', '-n', '-O', 'qcow2', 'large.raw', 'overlay.qcow2'], { cwd: dir });
      // -r: the copy lasts about 2 s, so every moment above is mid-copy.
      const ending = await tessera(['commit', '-r', '24M', 'overlay.qcow2'], signal, afterMs);
      expectClean('base.qcow2');
      expectClean('overlay.qcow2');
      const compare = (image: string) => spawnSync('qemu-img', ['compare', '-f', 'raw', '-F', 'qcow2', 'large.raw', image], { cwd: dir, encoding: 'utf8' }).stdout;
      if (ending.code === 0) {
        expect(compare('base.qcow2')).toBe('Images are identical.\n'); // finished first
        continue;
      }
      stopped++;
      expect(ending).toEqual({ code: null, signal, stderr: '' });
      expect(compare('overlay.qcow2')).toBe('Images are identical.\n');
    }
    expect(stopped).toBeGreaterThan(0);
  }, 60_000);
});
