// A VHDX left dirty by a real crash: qemu-io is stopped by gdb (and killed) at the write that
// would have put a new BAT entry in place, after the log entry recording it reached the disk.
// Read-only, the image is refused as qemu-img refuses it; `check -r all` replays the log as
// qemu-img does, after which both tools read the data the crashed write had stored.
import { execFileSync } from 'node:child_process';
import { copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configurations } from '../../../../tools/test-support/executables.ts';
import { sh, tempDir, tool } from '../../block-vpc/test/helpers.ts';

const { dir, remove } = tempDir('tessera-vhdx-log-');
afterAll(remove);
const qemu = (program: string, ...args: string[]): { code: number; stdout: string; stderr: string } => {
  try {
    return { code: 0, stdout: execFileSync(program, args, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }), stderr: '' };
  } catch (error) {
    const e = error as { status: number; stdout: string; stderr: string };
    return { code: e.status, stdout: e.stdout, stderr: e.stderr };
  }
};

/** The BAT lies at 2 MiB in qemu-img's layout of a new image with a 1 MiB log. */
const BAT_OFFSET = 2 * 1024 * 1024;

beforeAll(() => {
  sh(dir, 'qemu-img', ['create', '-q', '-f', 'vhdx', 'dirty.vhdx', '64M']);
  // Break on the in-place BAT write of the first block allocated (pwrite64's offset is its 4th
  // argument, in rcx), then kill: the log already holds that BAT update.
  execFileSync('gdb', ['-q', '-batch', '-nx', '-ex', 'set pagination off', '-ex', `break pwrite64 if $rcx == ${BAT_OFFSET}`, '-ex', 'run', '-ex', 'kill',
    '--args', 'qemu-io', '-f', 'vhdx', '-c', 'write -P 0x22 40M 64k', 'dirty.vhdx'], { cwd: dir, stdio: 'ignore', timeout: 60_000 });
  // The crash left a log GUID in the current header: qemu-img sees a log to replay.
  expect(qemu('qemu-img', 'info', 'dirty.vhdx').stderr).toContain('contains a log that needs to be replayed');
});

describe.each(configurations)('tessera-img (%s) with a dirty VHDX', (configuration) => {
  it('refuses it read-only with qemu-img\'s message, and replays its log with check -r all as qemu-img does', async () => {
    const ours = `${configuration}-ours.vhdx`;
    const theirs = `${configuration}-theirs.vhdx`;
    copyFileSync(join(dir, 'dirty.vhdx'), join(dir, ours));
    copyFileSync(join(dir, 'dirty.vhdx'), join(dir, theirs));
    const rename = (text: string) => text.replaceAll('qemu-img', 'tessera-img').replaceAll(theirs, ours);

    const info = await tool(configuration, dir, 'info', ours);
    const qemuInfo = qemu('qemu-img', 'info', theirs);
    expect({ code: info.code, stderr: info.stderr }).toEqual({ code: qemuInfo.code, stderr: rename(qemuInfo.stderr) });
    expect(readFileSync(join(dir, ours)).equals(readFileSync(join(dir, 'dirty.vhdx')))).toBe(true); // nothing written

    const repaired = await tool(configuration, dir, 'check', '-r', 'all', ours);
    const qemuRepaired = qemu('qemu-img', 'check', '-r', 'all', theirs);
    expect(repaired).toEqual({ code: qemuRepaired.code, stdout: rename(qemuRepaired.stdout), stderr: rename(qemuRepaired.stderr) });

    // The replayed BAT entry makes the crashed write's data visible, to both tools.
    const read = qemu('qemu-io', '-f', 'vhdx', '-r', '-c', 'read -P 0x22 40M 64k', ours).stdout;
    expect(read).toContain('read 65536/65536 bytes');
    expect(read).not.toContain('verification failed');
    expect(qemu('qemu-img', 'check', ours).stdout).toBe('No errors were found on the image.\n');
    expect(qemu('qemu-img', 'compare', ours, theirs).stdout).toBe('Images are identical.\n');
    expect((await tool(configuration, dir, 'info', ours)).code).toBe(0);
  });
});

describe('the log this driver writes', () => {
  it('is replayed by qemu-img when the BAT update it records never reached its place', async () => {
    const { vhdxFormat } = await import('../src/driver.ts');
    const { openFileNode } = await import('../../block-vpc/test/helpers.ts');
    sh(dir, 'qemu-img', ['create', '-q', '-f', 'vhdx', 'ours-crashed.vhdx', '64M']);
    const file = await openFileNode(join(dir, 'ours-crashed.vhdx'));
    // Power fails as the BAT sector is written in place: that write and all later ones are lost.
    let lost = false;
    const failing = Object.assign(Object.create(file) as typeof file, {
      write: async (offset: number, data: Uint8Array) => {
        if (offset === BAT_OFFSET) lost = true;
        if (!lost) await file.write(offset, data);
      },
    });
    const node = await vhdxFormat.open(failing, { readOnly: false, driverOptions: {} });
    await node.write(40 * 2 ** 20, new Uint8Array(65536).fill(0x33));
    // The BAT entry is logged behind the write; a flush waits for it.
    await node.flush();
    expect(lost).toBe(true);
    await file.close();

    expect(qemu('qemu-img', 'info', 'ours-crashed.vhdx').stderr).toContain('contains a log that needs to be replayed');
    expect(qemu('qemu-img', 'check', '-r', 'all', 'ours-crashed.vhdx').code).toBe(0);
    expect(qemu('qemu-img', 'check', 'ours-crashed.vhdx').stdout).toBe('No errors were found on the image.\n');
    // The block's data was written before the BAT update was lost: the replayed entry maps it.
    const read = qemu('qemu-io', '-f', 'vhdx', '-r', '-c', 'read -P 0x33 40M 64k', 'ours-crashed.vhdx').stdout;
    expect(read).toContain('read 65536/65536 bytes');
    expect(read).not.toContain('verification failed');
  });
});
