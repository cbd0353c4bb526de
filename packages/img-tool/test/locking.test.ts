// Image locking against the real peers: QEMU (qemu-io, qemu-system-i386) and tessera (tessera-img,
// the emulator) holding images, each in both directions; the bytes locked compared with QEMU's;
// one command naming a file twice in conflicting roles; and the loader's check of the addon.
// Every case asserts the outcome on disk (the image's bytes), the exit code and qemu-img's message.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, cpSync, openSync, closeSync, readFileSync, writeFileSync, existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { executable, run, workspaceRoot } from '../../../tools/test-support/executables.ts';
import { asTessera, qemuImg, tempDir, tool, writeImage, random, MiB } from './helpers.ts';

// The test reads lock bytes with the addon it tests; the bytes QEMU's processes hold are the oracle.
const addon = { exports: {} as { conflicts(fd: number, byte: number): boolean } };
process.dlopen(addon, join(workspaceRoot, 'packages/modules/block-file/native/build/Release/ofd_lock.node'));

const LOCK_BYTES = [100, 101, 102, 103, 200, 201, 202, 203];

/** The lock bytes some other open file description holds on `path`. */
function heldBytes(path: string): number[] {
  const fd = openSync(path, 'r');
  try {
    return LOCK_BYTES.filter((byte) => addon.exports.conflicts(fd, byte));
  } finally {
    closeSync(fd);
  }
}

const digest = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

const holders: ChildProcess[] = [];
afterEach(async () => {
  for (const child of holders.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));
    }
  }
});

/** Start a program that holds `image` open, and wait until its locks are there. */
async function hold(command: string, args: readonly string[], image: string, cwd: string): Promise<ChildProcess> {
  const child = spawn(command, [...args], { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  holders.push(child);
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  // Held once the set of locked bytes is non-empty and has stayed the same for 4 polls: locks are
  // taken in steps (the read-only open's, then the writer's), so the first one seen may be partial.
  let last = '';
  let same = 0;
  for (const deadline = Date.now() + 15_000; ; ) {
    const held = heldBytes(join(cwd, image));
    same = held.length > 0 && held.join() === last ? same + 1 : 0;
    last = held.join();
    if (same >= 4) return child;
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`${command} ${args.join(' ')} did not hold ${image}: ${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const qemuIoHolding = (image: string, cwd: string, ...options: string[]) => hold('qemu-io', [...options, '-c', 'sleep 600000', image], image, cwd);
const emulator = executable('emulator', 'modular');
const emulatorHolding = (image: string, cwd: string, drive: string) =>
  hold(process.execPath, [emulator, '-m', '16', '-display', 'none', '-drive', `file=${image},${drive}`], image, cwd);

/** A directory with a qcow2 image holding data, its overlay and a raw image. */
async function fixture(): Promise<string> {
  const dir = await tempDir();
  await writeImage(join(dir, 'data.raw'), 4 * MiB, [[0, random(MiB)]]);
  for (const args of [
    ['convert', '-O', 'qcow2', 'data.raw', 'base.qcow2'],
    ['create', '-q', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', 'top.qcow2'],
    ['convert', '-O', 'raw', 'data.raw', 'disk.raw'],
  ]) {
    const result = await qemuImg(args, dir);
    if (result.code !== 0) throw new Error(result.stderr);
  }
  return dir;
}

const FILES = ['base.qcow2', 'top.qcow2', 'disk.raw'];
const digests = (dir: string) => Object.fromEntries(FILES.map((file) => [file, digest(join(dir, file))]));

/**
 * Run each command with qemu-img and with tessera-img on the same held images: the same exit code
 * and, where it fails, the same message. Only commands that fail, or only read, are given.
 */
async function sameAsQemuImg(dir: string, commands: ReadonlyArray<readonly string[]>): Promise<void> {
  for (const args of commands) {
    const theirs = asTessera(await qemuImg(args, dir));
    const ours = await tool('modular', args, dir);
    expect({ args, code: ours.code, stderr: ours.stderr }).toEqual({ args, code: theirs.code, stderr: theirs.stderr });
  }
}

const WRITE_LOCK = (image: string) => `tessera-img: Could not open '${image}': Failed to get "write" lock\nIs another process using the image [${image}]?\n`;
const SHARED_WRITE_LOCK = (image: string) =>
  `tessera-img: Could not open '${image}': Failed to get shared "write" lock\nIs another process using the image [${image}]?\n`;

describe('QEMU holding an image, tessera-img refused as qemu-img is', () => {
  it('qemu-io writing a qcow2: every opener but -U is refused, with qemu-img\'s messages, and nothing changes', async () => {
    const dir = await fixture();
    const before = digests(dir);
    await qemuIoHolding('base.qcow2', dir);
    expect(heldBytes(join(dir, 'base.qcow2'))).toEqual([100, 101, 103, 201, 203]);
    await sameAsQemuImg(dir, [
      ['info', 'base.qcow2'],
      ['check', 'base.qcow2'],
      ['map', 'base.qcow2'],
      // file.locking=off takes no locks, so nothing conflicts (qemu's file driver option).
      ['map', '--image-opts', 'driver=qcow2,file.filename=base.qcow2,file.locking=off'],
      ['info', '--image-opts', 'driver=qcow2,file.filename=base.qcow2,file.locking=bogus'],
      ['compare', 'base.qcow2', 'disk.raw'],
      ['convert', '-O', 'raw', 'base.qcow2', 'out.raw'],
      ['convert', '-O', 'raw', 'top.qcow2', 'out.raw'],
      ['snapshot', '-l', 'base.qcow2'],
      ['snapshot', '-c', 'snap', 'base.qcow2'],
      ['resize', 'base.qcow2', '8M'],
      ['amend', '-o', 'compat=0.10', 'base.qcow2'],
      ['check', '-r', 'all', 'base.qcow2'],
      ['commit', 'top.qcow2'],
      ['rebase', '-b', 'base.qcow2', '-F', 'qcow2', 'top.qcow2'],
      ['dd', 'if=base.qcow2', 'of=out.raw', '-O', 'raw'],
      ['map', 'top.qcow2'],
      ['info', '-U', 'base.qcow2'],
      ['check', '-U', 'base.qcow2'],
      ['compare', '-U', 'base.qcow2', 'disk.raw'],
    ]);
    expect((await tool('modular', ['info', 'base.qcow2'], dir)).stderr).toBe(SHARED_WRITE_LOCK('base.qcow2'));
    // Each image of the chain is opened on its own, as qemu-img does: the locked one is named.
    expect((await tool('modular', ['info', '--backing-chain', 'top.qcow2'], dir)).stderr).toBe(SHARED_WRITE_LOCK('base.qcow2'));
    expect((await tool('modular', ['resize', 'base.qcow2', '8M'], dir)).stderr).toBe(WRITE_LOCK('base.qcow2'));
    // -U reads while qemu writes; tessera-img's copy is the data.
    expect((await tool('modular', ['convert', '-U', '-O', 'raw', 'base.qcow2', 'copy.raw'], dir)).code).toBe(0);
    expect(digest(join(dir, 'copy.raw'))).toBe(digest(join(dir, 'data.raw')));
    expect(existsSync(join(dir, 'out.raw'))).toBe(false);
    expect(digests(dir)).toEqual(before);
  });

  it('qemu-io reading a qcow2: readers go on, writers are refused as by qemu-img', async () => {
    const dir = await fixture();
    const before = digests(dir);
    await qemuIoHolding('base.qcow2', dir, '-r');
    expect(heldBytes(join(dir, 'base.qcow2'))).toEqual([100, 201, 203]);
    await sameAsQemuImg(dir, [
      ['info', 'base.qcow2'],
      ['check', 'base.qcow2'],
      ['compare', 'base.qcow2', 'disk.raw'],
      ['snapshot', '-c', 'snap', 'base.qcow2'],
      ['resize', 'base.qcow2', '8M'],
      ['amend', '-o', 'compat=0.10', 'base.qcow2'],
      ['commit', 'top.qcow2'],
      ['convert', '-n', '-O', 'qcow2', 'disk.raw', 'base.qcow2'],
      ['convert', '-O', 'qcow2', 'disk.raw', 'base.qcow2'],
    ]);
    // qemu-img reports the base's reopen for writing bare, not as an open failure.
    expect((await tool('modular', ['commit', 'top.qcow2'], dir)).stderr).toBe('tessera-img: Failed to get "write" lock\nIs another process using the image [base.qcow2]?\n');
    expect(digests(dir)).toEqual(before);
  });

  it('qemu-io writing a raw image: qcow2 overlays and convert sources refused, plain readers and -U not', async () => {
    const dir = await fixture();
    const before = digests(dir);
    await qemuIoHolding('disk.raw', dir, '-f', 'raw');
    expect(heldBytes(join(dir, 'disk.raw'))).toEqual([100, 101]);
    await sameAsQemuImg(dir, [
      ['info', 'disk.raw'],
      ['check', '-f', 'raw', 'disk.raw'],
      ['convert', '-O', 'qcow2', 'disk.raw', 'out.qcow2'],
      ['convert', '-U', '-O', 'raw', 'disk.raw', 'copy.raw'],
      ['dd', '-U', 'if=disk.raw', 'of=out.raw', '-O', 'raw'],
    ]);
    // Beyond qemu-img, whose dd copies an image being written: dd's input is kept from change, as convert's.
    const dd = await tool('modular', ['dd', 'if=disk.raw', 'of=out2.raw', '-O', 'raw'], dir);
    expect([dd.code, dd.stderr]).toEqual([1, SHARED_WRITE_LOCK('disk.raw')]);
    expect(digests(dir)).toEqual(before);
  });

  it('qemu-system-i386 running a qcow2 disk: the emulator and tessera-img are refused', async () => {
    const dir = await fixture();
    const before = digests(dir);
    await hold('qemu-system-i386', ['-S', '-display', 'none', '-nodefaults', '-drive', 'file=base.qcow2,format=qcow2,if=ide'], 'base.qcow2', dir);
    expect(heldBytes(join(dir, 'base.qcow2'))).toEqual([100, 101, 103, 201, 203]);
    const started = await run(emulator, ['-m', '16', '-display', 'none', '-hda', 'base.qcow2'], { cwd: dir, timeoutMs: 20_000 });
    expect(started.code).toBe(1);
    expect(started.stderr).toBe('tessera: -hda base.qcow2: Failed to get "write" lock\nIs another process using the image [base.qcow2]?\n');
    await sameAsQemuImg(dir, [
      ['info', 'base.qcow2'],
      ['commit', 'top.qcow2'],
    ]);
    expect(digests(dir)).toEqual(before);
  });
});

describe('tessera holding an image, QEMU and tessera refused', () => {
  it('the emulator running a qcow2 disk holds the bytes qemu-system holds; qemu-img, qemu-io and tessera-img are refused', async () => {
    const dir = await fixture();
    const before = digests(dir);
    await emulatorHolding('base.qcow2', dir, 'format=qcow2');
    expect(heldBytes(join(dir, 'base.qcow2'))).toEqual([100, 101, 103, 201, 203]);
    const info = await qemuImg(['info', 'base.qcow2'], dir);
    expect(info.code).toBe(1);
    expect(info.stderr).toBe(SHARED_WRITE_LOCK('base.qcow2').replace('tessera-img', 'qemu-img'));
    const write = await new Promise<string>((resolve) => {
      const child = spawn('qemu-io', ['-c', 'write -P 9 0 64k', 'base.qcow2'], { cwd: dir });
      let text = '';
      child.stderr.setEncoding('utf8').on('data', (d: string) => (text += d));
      child.stdout.setEncoding('utf8').on('data', (d: string) => (text += d));
      child.on('close', () => resolve(text));
    });
    expect(write).toContain('Failed to get "write" lock\nIs another process using the image [base.qcow2]?');
    await sameAsQemuImg(dir, [
      ['info', 'base.qcow2'],
      ['commit', 'top.qcow2'],
      ['convert', '-O', 'raw', 'top.qcow2', 'out.raw'],
      ['info', '-U', 'base.qcow2'],
    ]);
    expect(digests(dir)).toEqual(before);
  });

  it('the emulator with snapshot=on and a raw disk locks as qemu-system does', async () => {
    const dir = await fixture();
    await emulatorHolding('disk.raw', dir, 'format=raw,snapshot=on');
    expect(heldBytes(join(dir, 'disk.raw'))).toEqual([100, 201, 203]);
    // A writer is refused; qemu-img convert from it reads (qemu-system lets readers read).
    await sameAsQemuImg(dir, [
      ['resize', '-f', 'raw', 'disk.raw', '8M'],
      ['convert', '-O', 'qcow2', 'disk.raw', 'out.qcow2'],
    ]);
  });

  it('two tessera-img processes: a long read (bench) keeps a writer out; a long write keeps out every reader', async () => {
    const dir = await fixture();
    const before = digests(dir);
    const bench = (...args: string[]) => hold(process.execPath, [executable('img-tool', 'modular'), 'bench', '-c', '100000000', '-s', '4k', ...args, 'base.qcow2'], 'base.qcow2', dir);
    const reader = await bench();
    expect(heldBytes(join(dir, 'base.qcow2'))).toEqual([100, 201, 203]);
    const resize = await tool('modular', ['resize', 'base.qcow2', '8M'], dir);
    expect([resize.code, resize.stderr]).toEqual([1, WRITE_LOCK('base.qcow2')]);
    expect((await tool('modular', ['info', 'base.qcow2'], dir)).code).toBe(0);
    reader.kill('SIGKILL');
    await new Promise((resolve) => reader.once('exit', resolve));
    expect(heldBytes(join(dir, 'base.qcow2'))).toEqual([]); // released with the process
    await bench('-w', '-o', '1M');
    expect(heldBytes(join(dir, 'base.qcow2'))).toEqual([100, 101, 103, 201, 203]);
    const info = await tool('modular', ['info', 'base.qcow2'], dir);
    expect([info.code, info.stderr]).toEqual([1, SHARED_WRITE_LOCK('base.qcow2')]);
    const static_ = await tool('static', ['check', 'base.qcow2'], dir);
    expect([static_.code, static_.stderr]).toEqual([1, SHARED_WRITE_LOCK('base.qcow2')]);
    expect(digest(join(dir, 'disk.raw'))).toBe(before['disk.raw']);
  });
});

describe('one command naming one file in conflicting roles: refused before anything is written', () => {
  it('convert onto its input or onto its own backing file, create on its own backing file, as qemu-img', async () => {
    const dir = await fixture();
    const before = digests(dir);
    await sameAsQemuImg(dir, [
      ['convert', '-O', 'raw', 'disk.raw', 'disk.raw'],
      ['convert', '-n', '-O', 'raw', 'disk.raw', 'disk.raw'],
      ['convert', '-O', 'qcow2', 'base.qcow2', 'base.qcow2'],
      ['convert', '-O', 'qcow2', 'top.qcow2', 'base.qcow2'],
      ['create', '-f', 'qcow2', '-b', 'top.qcow2', '-F', 'qcow2', 'top.qcow2'],
      ['rebase', '-b', 'top.qcow2', '-F', 'qcow2', 'top.qcow2'],
      ['compare', 'base.qcow2', 'base.qcow2'],
    ]);
    const convert = await tool('modular', ['convert', '-O', 'raw', 'disk.raw', 'disk.raw'], dir);
    expect(convert.stderr).toBe('tessera-img: disk.raw: error while converting raw: Failed to get "write" lock\nIs another process using the image [disk.raw]?\n');
    // Beyond qemu-img, which compares the names only: another spelling of the same file.
    const create = await tool('modular', ['create', '-f', 'qcow2', '-b', 'top.qcow2', '-F', 'qcow2', './top.qcow2'], dir);
    expect([create.code, create.stderr]).toEqual([1, 'tessera-img: ./top.qcow2: Error: Trying to create an image with the same filename as the backing file\n']);
    // Beyond qemu-img, whose dd truncates its own input: the input is kept from change.
    const dd = await tool('static', ['dd', 'if=disk.raw', 'of=disk.raw', '-O', 'raw'], dir);
    expect([dd.code, dd.stderr]).toEqual([1, 'tessera-img: disk.raw: error while creating output image: Failed to get "write" lock\nIs another process using the image [disk.raw]?\n']);
    expect(digests(dir)).toEqual(before);
  });

  it('the emulator given one file as two disks refuses to start and writes nothing', async () => {
    const dir = await fixture();
    const before = digests(dir);
    for (const [args, origin] of [
      [['-hda', 'disk.raw', '-hdb', 'disk.raw'], '-hdb disk.raw'],
      [['-drive', 'file=base.qcow2,format=qcow2', '-drive', 'file=base.qcow2,format=qcow2,index=1'], '-drive file=base.qcow2,format=qcow2,index=1'],
      [['-hda', 'top.qcow2', '-hdb', 'base.qcow2'], '-hdb base.qcow2'],
    ] as const) {
      const result = await run(emulator, ['-m', '16', '-display', 'none', ...args], { cwd: dir, timeoutMs: 20_000 });
      const image = origin.includes('disk.raw') ? 'disk.raw' : 'base.qcow2';
      expect([result.code, result.stderr]).toEqual([1, expect.stringContaining(`tessera: ${origin}: Failed to get "write" lock\nIs another process using the image [${image}]?\n`)]);
    }
    expect(digests(dir)).toEqual(before);
  });
});

describe('the addon is loaded only as the build made it', () => {
  it('an altered or missing addon stops a command that locks, with a message naming it; info of a raw image needs none', async () => {
    const dir = await fixture();
    const copy = join(await tempDir(), 'dist');
    cpSync(join(workspaceRoot, 'packages/img-tool/dist'), copy, { recursive: true });
    const installed = join(copy, 'tessera-img.cjs');
    const addonFile = join(copy, 'tessera-img.ofd-lock.node');
    expect((await run(installed, ['info', 'base.qcow2'], { cwd: dir })).code).toBe(0);
    const bytes = readFileSync(addonFile);
    bytes[bytes.length - 1]! ^= 1;
    writeFileSync(addonFile, bytes);
    chmodSync(addonFile, 0o755);
    const altered = await run(installed, ['info', 'base.qcow2'], { cwd: dir });
    expect(altered.code).toBe(1);
    expect(altered.stderr).toMatch(new RegExp(`^tessera-img: Could not open 'base.qcow2': image locking is not available: ${addonFile} is not the file this build made \\(sha256 [0-9a-f]{64}, expected [0-9a-f]{64}\\); reinstall tessera\n$`));
    expect((await run(installed, ['info', 'disk.raw'], { cwd: dir })).code).toBe(0);
    rmSync(addonFile);
    const missing = await run(installed, ['convert', '-O', 'qcow2', 'disk.raw', 'out.qcow2'], { cwd: dir });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`image locking is not available: cannot open ${addonFile}`);
  });
});
