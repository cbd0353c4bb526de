// A qcow2 image's persistent dirty bitmaps as QEMU reads them: one qemu-nbd exporting them all
// (-B each) and nbdinfo's map of each `qemu:dirty-bitmap:NAME` context (lines of start, length,
// and `dirty` or `clean`).
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export function dirtyRanges(dir: string, image: string, bitmaps: readonly string[]): Record<string, string> {
  const tag = `${process.pid}-${image.replace(/\W/g, '_')}`;
  const socket = join(dir, `nbd-${tag}.sock`);
  const pidFile = join(dir, `nbd-${tag}.pid`);
  const server = spawnSync('qemu-nbd', ['--fork', '-r', '-f', 'qcow2', ...bitmaps.flatMap((b) => ['-B', b]), '-k', socket, '--persistent', '--pid-file', pidFile, image], { cwd: dir, encoding: 'utf8' });
  if (server.status !== 0) throw new Error(`qemu-nbd ${image}: ${server.stderr}`);
  try {
    return Object.fromEntries(
      bitmaps.map((b) => [b, execFileSync('nbdinfo', [`--map=qemu:dirty-bitmap:${b}`, `nbd+unix:///?socket=${socket}`], { encoding: 'utf8' })]),
    );
  } finally {
    stopDaemon(pidFile);
  }
}

/**
 * Stop a forked qemu-nbd and wait until it is gone or a zombie (its image lock released): whoever
 * adopted the daemon reaps it in its own time, up to seconds later, so `kill -0` is no test.
 */
export function stopDaemon(pidFile: string): void {
  const pid = Number(readFileSync(pidFile, 'utf8'));
  process.kill(pid);
  for (let i = 0; i < 250 && running(pid); i++) spawnSync('sleep', ['0.02']);
}

function running(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]![0] !== 'Z';
  } catch {
    return false;
  }
}
