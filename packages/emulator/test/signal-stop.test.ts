// tessera on SIGINT, SIGTERM and SIGHUP ends as qemu-system-i386 does: "terminating on signal N"
// on stderr, exit status 0, its disks flushed and closed (a qcow2 disk with lazy refcounts, whose
// dirty bit only a clean close clears, passes qemu-img check with nothing to repair).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executable } from '../../../tools/test-support/executables.ts';
import { runAndSignal } from '../../../tools/test-support/signalled-run.ts';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-emulator-signal-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Ending {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** stderr with the program name and the sender (which Node cannot learn) left out. */
  readonly message: string;
}

/** The ending, with the program name and the sender (which Node cannot learn) left out of stderr. */
async function ending(command: string, args: readonly string[], signal: NodeJS.Signals, afterMs: number): Promise<Ending> {
  const { code, signal: killedBy, stderr } = await runAndSignal(command, args, dir, signal, afterMs);
  return { code, signal: killedBy, message: stderr.replace(/^(tessera|qemu-system-i386): /, '').replace(/ from pid \d+ \(.*\)$/m, '') };
}

describe.each([
  ['SIGINT', 2],
  ['SIGTERM', 15],
  ['SIGHUP', 1],
] as const)('%s', (signal, number) => {
  it('ends as qemu-system-i386 does, the disk closed cleanly', async () => {
    const image = `disk-${number}.qcow2`;
    spawnSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', 'lazy_refcounts=on', image, '64M'], { cwd: dir });
    const drive = ['-display', 'none', '-m', '32', '-drive', `file=${image},format=qcow2,if=ide`];
    const qemu = await ending('qemu-system-i386', ['-nodefaults', ...drive], signal, 1500);
    const tessera = await ending(process.execPath, [executable('emulator', 'modular'), ...drive], signal, 3000);
    expect(qemu).toEqual({ code: 0, signal: null, message: `terminating on signal ${number}\n` });
    expect(tessera).toEqual(qemu);
    const check = spawnSync('qemu-img', ['check', image], { cwd: dir, encoding: 'utf8' });
    expect(check.status, check.stdout + check.stderr).toBe(0);
    expect(spawnSync('qemu-img', ['info', '--output=json', image], { cwd: dir, encoding: 'utf8' }).stdout).toMatch(/"dirty-flag": false/);
  }, 60_000);
});
