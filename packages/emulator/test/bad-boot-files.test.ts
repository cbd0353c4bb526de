// Unusable -m values and -kernel/-bios/-initrd files that are empty, too large, not regular files or
// garbage: one line naming the file, exit 1, no stack trace, nothing read past a cap (a 3 GiB sparse
// file, /dev/zero, a FIFO without a writer all fail at once). And the engine failing while the
// guest runs: the machine stops with the guest's state, not a Node stack, and a QMP client is told
// (SHUTDOWN, reason host-error, as QEMU reports an error that stops the guest).
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { executable, run } from '../../../tools/test-support/executables.ts';
import { MEDIA } from './support/boot-media.ts';
import { MachineProcess } from './support/machine-process.ts';
import { RawQmp } from './support/qmp-client.ts';

const exe = () => executable('emulator', 'modular');
let dir = '';
const file = (name: string) => join(dir, name);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-bad-boot-files-'));
  writeFileSync(file('empty'), '');
  writeFileSync(file('garbage'), Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 151 + 7) & 0xff)));
  writeFileSync(file('huge'), '');
  truncateSync(file('huge'), 3 * 2 ** 30); // sparse: costs nothing, and must never be read
  mkdirSync(file('directory'));
  execFileSync('mkfifo', [file('fifo')]); // no writer: opening it for reading blocks, unless non-blocking
});

/** One line on stderr, exactly `tessera: <message>`; exit 1; no stack trace. */
async function refused(args: string[], message: string | RegExp): Promise<void> {
  const result = await run(exe(), ['-nographic', ...args], { timeoutMs: 30_000 });
  if (typeof message === 'string') expect(result.stderr).toBe(`tessera: ${message}\n`);
  else expect(result.stderr).toMatch(message);
  expect(result.code).toBe(1);
  expect(result.stdout).toBe('');
}

describe('tessera refuses unusable boot files and memory sizes, as QEMU does', () => {
  it('-m values this machine cannot have', async () => {
    await refused(['-m', '4G'], '-m 4G: ram size too large: this machine has at most 3 GiB of RAM (v86 addresses 32 bits, its PCI memory sits above), use -m 3G or less');
    await refused(['-m', '1T'], '-m 1T: ram size too large: this machine has at most 3 GiB of RAM (v86 addresses 32 bits, its PCI memory sits above), use -m 3G or less');
    await refused(['-m', '0'], '-m 0: memory size must be at least 1 MiB');
    await refused(['-m', 'lots'], "-m lots: Parameter 'size' expects a non-negative number below 2^64\nOptional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\nand exabytes, respectively.");
  });

  it('-kernel: empty, garbage, not a regular file, too large', async () => {
    await refused(['-kernel', file('empty')], `could not open kernel file '${file('empty')}': the file is empty`);
    await refused(['-kernel', file('garbage')], `could not load kernel '${file('garbage')}': it is not a Linux kernel (bzImage): this machine boots only kernels with the Linux x86 boot protocol (no multiboot, ELF or raw images)`);
    await refused(['-kernel', '/dev/zero'], "could not open kernel file '/dev/zero': it is a character device, not a regular file");
    await refused(['-kernel', file('fifo')], `could not open kernel file '${file('fifo')}': it is a FIFO, not a regular file`);
    await refused(['-kernel', file('directory')], `could not open kernel file '${file('directory')}': Is a directory`);
    await refused(['-kernel', file('huge')], `could not open kernel file '${file('huge')}': the file is too large (3221225472 bytes): this machine loads the kernel at 1 MiB and the initrd at 64 MiB, so a kernel may take at most 63 MiB`);
    // A kernel the header says is larger than the file (cut short): v86 would run whatever follows.
    const cut = file('cut-kernel');
    writeFileSync(cut, readFileSync(MEDIA.memtestBin).subarray(0, 1024));
    await refused(['-kernel', cut], `could not load kernel '${cut}': it is truncated: its setup code claims 2 sectors but the file ends before its protected-mode part`);
  });

  it('-bios: empty, garbage, not a regular file, too large', async () => {
    await refused(['-bios', file('empty')], `could not load PC BIOS '${file('empty')}': the file is empty`);
    await refused(['-bios', file('garbage')], `could not load PC BIOS '${file('garbage')}': its size (5000 bytes) is not a multiple of 64 KiB, so it is not a PC BIOS image`);
    await refused(['-bios', '/dev/zero'], "could not load PC BIOS '/dev/zero': it is a character device, not a regular file");
    await refused(['-bios', file('fifo')], `could not load PC BIOS '${file('fifo')}': it is a FIFO, not a regular file`);
    await refused(['-bios', file('directory')], `could not load PC BIOS '${file('directory')}': Is a directory`);
    await refused(['-bios', file('huge')], `could not load PC BIOS '${file('huge')}': the file is too large (3221225472 bytes): this machine takes a BIOS of at most 128 KiB (SeaBIOS's bios.bin)`);
  });

  it('-initrd: not a regular file, larger than the memory above 64 MiB', async () => {
    const kernel = ['-kernel', MEDIA.memtestBin];
    await refused([...kernel, '-initrd', '/dev/zero'], "could not load initial ram disk '/dev/zero': it is a character device, not a regular file");
    await refused([...kernel, '-initrd', file('fifo')], `could not load initial ram disk '${file('fifo')}': it is a FIFO, not a regular file`);
    await refused([...kernel, '-initrd', file('directory')], `could not load initial ram disk '${file('directory')}': Is a directory`);
    await refused(['-m', '128', ...kernel, '-initrd', file('huge')], `could not load initial ram disk '${file('huge')}': the file is too large (3221225472 bytes): this machine loads the initrd at 64 MiB and has at most 3072 MiB of RAM, so an initrd may take at most 3008 MiB`);
    await refused(['-m', '64', ...kernel, '-initrd', MEDIA.installerInitrd], /^tessera: could not load initial ram disk '.*': the file is too large \(\d+ bytes\): this machine loads the initrd at 64 MiB, use -m 9\d or more\n$/);
  });
});

describe('an internal error of the engine while the guest runs', () => {
  /** A 64 KiB "BIOS" whose reset vector turns on protected mode and paging at once with an empty
   * page directory: v86's CPU gives up (it panics on the #GP it cannot deliver). */
  const faultingBios = () => {
    const bios = Buffer.alloc(64 * 1024, 0xf4);
    Buffer.from('66b8010000800f22c0ebfe', 'hex').copy(bios, bios.length - 16);
    writeFileSync(file('faulting-bios.bin'), bios);
    return file('faulting-bios.bin');
  };
  const stopped = /^tessera: the machine stopped: the emulator engine \(v86\) failed while running the guest at EIP=0x0000fff9 CS=f000 \(linear 0x000ffff9\), 16-bit protected mode, paging on, CR0=0x80000011 /m;

  it('stops the machine with the guest state (EIP, mode), exit 1, no Node stack', async () => {
    const result = await run(exe(), ['-nographic', '-bios', faultingBios()], { timeoutMs: 60_000 });
    expect(result.stderr).toMatch(stopped);
    expect(result.stderr).not.toMatch(/^\s+at /m);
    expect(result.code).toBe(1);
  });

  it('tells a QMP client: SHUTDOWN with reason host-error, then the connection closes', async () => {
    // -S: the CPU runs (and fails) only after the client is connected and sends `cont`.
    const socket = file('qmp.sock');
    const machine = MachineProcess.tessera(exe(), ['-display', 'none', '-S', '-bios', faultingBios(), '-qmp', `unix:${socket},server=on,wait=off`], 60_000);
    try {
      const { client } = await RawQmp.open({ path: socket });
      expect(await client.execute('qmp_capabilities')).toEqual({ return: {}, id: 'qmp_capabilities' });
      expect(await client.execute('cont')).toEqual({ return: {}, id: 'cont' });
      const shutdown = await client.event('SHUTDOWN');
      expect(shutdown.data).toEqual({ guest: false, reason: 'host-error' });
      await client.closedByServer();
      expect(await machine.exited).toBe(1);
      expect(machine.stderr).toMatch(stopped);
      expect(machine.stderr).not.toMatch(/^\s+at /m);
    } finally {
      machine.kill();
    }
  });
});
