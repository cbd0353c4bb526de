// Shared pieces of the img-tool integration tests: temp dirs, image fixtures, and running
// qemu-img (Debian's, the reference) next to the built tessera-img.
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cp, mkdtemp, open, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { executable, run, type Configuration, type RunResult } from '../../../tools/test-support/executables.ts';

export { configurations, type Configuration, type RunResult } from '../../../tools/test-support/executables.ts';

export const MiB = 1024 * 1024;

const dirs: string[] = [];
afterAll(() => Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true }))));

/** A temp dir, removed after the test file. */
export async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tessera-img-test-'));
  dirs.push(dir);
  return dir;
}

/** Run the built tessera-img of a configuration. */
export function tool(configuration: Configuration, args: readonly string[], cwd?: string): Promise<RunResult> {
  return run(executable('img-tool', configuration), args, { cwd });
}

/** Run Debian's qemu-img; never rejects. */
export function qemuImg(args: readonly string[], cwd?: string): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile('qemu-img', [...args], { cwd, encoding: 'utf8', timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** qemu-img's output as tessera-img words it: the program name differs, nothing else. */
export function asTessera(result: RunResult): RunResult {
  const rename = (text: string) => text.replaceAll('qemu-img', 'tessera-img');
  return { code: result.code, stdout: rename(result.stdout), stderr: rename(result.stderr) };
}

/** A sparse file of `size` bytes with `data` written at the given offsets. */
export async function writeImage(path: string, size: number, writes: ReadonlyArray<[number, Uint8Array]> = []): Promise<void> {
  await writeFile(path, '');
  await truncate(path, size);
  const handle = await open(path, 'r+');
  try {
    for (const [offset, data] of writes) await handle.write(data, 0, data.length, offset);
  } finally {
    await handle.close();
  }
}

export function random(length: number): Uint8Array {
  return new Uint8Array(randomBytes(length));
}

/**
 * Bytes the file occupies on disk. This counts the file system's own blocks too: ext4 adds an
 * extent-tree block once a file's data lies in more than four pieces, which depends on what else
 * was writing the disk at the time. Compare layouts with dataBytes; use this for totals.
 */
export async function allocatedBytes(path: string): Promise<number> {
  return (await stat(path)).blocks * 512;
}

/** The file's data bytes as SEEK_DATA/SEEK_HOLE see them (qemu-img map of it as raw): its layout, not the file system's bookkeeping. */
export async function dataBytes(path: string): Promise<number> {
  const map = JSON.parse(execFileSync('qemu-img', ['map', '--output=json', '-f', 'raw', path], { encoding: 'utf8' })) as { length: number; data: boolean }[];
  return map.filter((entry) => entry.data).reduce((sum, entry) => sum + entry.length, 0);
}

/** One ext4 extent-tree block: what allocatedBytes may differ by between two files of the same layout. */
export const EXTENT_TREE_SLACK = 4096;

/** Two copies of a fixture directory, one for each tool, for commands that write files. */
export async function twinDirs(fixture: string): Promise<{ qemu: string; ours: string }> {
  const base = await tempDir();
  const qemu = join(base, 'qemu');
  const ours = join(base, 'ours');
  await cp(fixture, qemu, { recursive: true });
  await cp(fixture, ours, { recursive: true });
  return { qemu, ours };
}

/** Run the same arguments through qemu-img and tessera-img (in their own dirs when given). */
export async function both(
  configuration: Configuration,
  args: readonly string[],
  dirs: { qemu: string; ours: string } | string,
): Promise<{ qemu: RunResult; ours: RunResult }> {
  const [qemuDir, ourDir] = typeof dirs === 'string' ? [dirs, dirs] : [dirs.qemu, dirs.ours];
  const [qemu, ours] = await Promise.all([qemuImg(args, qemuDir), tool(configuration, args, ourDir)]);
  return { qemu: asTessera(qemu), ours };
}

/** qemu-img info --output=json of a file. */
export async function qemuInfo(path: string, format = 'raw'): Promise<Record<string, unknown>> {
  const result = await qemuImg(['info', '-f', format, '--output=json', path]);
  if (result.code !== 0) throw new Error(`qemu-img info ${path} failed: ${result.stderr}`);
  return JSON.parse(result.stdout) as Record<string, unknown>;
}

/** Run qemu-io commands on an image of the given format (its output is not needed). */
export function qemuIoFormat(file: string, format: string, ...commands: string[]): void {
  execFileSync('qemu-io', ['-f', format, ...commands.flatMap((command) => ['-c', command]), file], { stdio: 'ignore' });
}

/** Run qemu-io commands on a qcow2 image. */
export function qemuIo(file: string, ...commands: string[]): void {
  qemuIoFormat(file, 'qcow2', ...commands);
}
