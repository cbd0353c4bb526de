// A file's large writes and truncates reach the kernel alone: a second buffered write to the same
// file spins on its inode lock while the first copies (block-file's change-order.ts says why).
// Checked on the built executable, whose system calls strace records: no large write or truncate of
// the target meets another thread's change of it in the kernel, for a convert's own writes (raw,
// two chunks' writes queued) and for a format that adds small metadata writes and file growth
// beside the data (vhdx: log, BAT, ftruncate per block).
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WRITES_ALONE_FROM } from '../../modules/block-file/src/change-order.ts';
import { executable, run } from '../../../tools/test-support/executables.ts';
import { configurations, MiB, qemuImg, random, tempDir, writeImage } from './helpers.ts';

let dir: string;
beforeAll(async () => {
  dir = await tempDir();
  // Data throughout, every chunk written: 64 writes of 2 MiB into new page-cache pages, enough
  // that two queued writes of the same file met in the kernel in every run before the queue.
  await writeImage(join(dir, 'in.raw'), 128 * MiB, [[0, random(128 * MiB)]]);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Bytes a change writes, from strace's record of its call; Infinity for a truncate or fallocate, which always run alone. */
function bytesOf(call: string, rest: string): number {
  if (call === 'pwrite64') return Number(/^pwrite64\(\d+, ""(?:\.\.\.)?, (\d+),/.exec(rest)![1]);
  if (call === 'pwritev') return [...rest.matchAll(/iov_len=(\d+)/g)].reduce((sum, [, n]) => sum + Number(n), 0);
  return Infinity;
}

/**
 * Changes of `target` that met a change of another thread in the kernel where one of the two runs
 * alone (a write of WRITES_ALONE_FROM bytes or more, a truncate), in strace's record.
 */
function overlappingChanges(trace: string, target: string): { changes: number; alone: number; overlapping: string[] } {
  const fds = new Set<string>();
  const underWay = new Map<string, { fd: string; alone: boolean }>(); // thread -> its unfinished change
  const overlapping: string[] = [];
  let changes = 0;
  let alone = 0;
  for (const line of trace.split('\n')) {
    const [thread, rest = ''] = line.split(/ +(.*)/s);
    const opened = /^openat\(AT_FDCWD, "([^"]+)".*= (\d+)/.exec(rest);
    if (opened) {
      if (opened[1] === target) fds.add(opened[2]!);
      else fds.delete(opened[2]!); // the number now names another file
      continue;
    }
    if (/^<\.\.\. (pwrite64|pwritev|ftruncate|fallocate) resumed>/.test(rest)) {
      underWay.delete(thread!);
      continue;
    }
    const change = /^(pwrite64|pwritev|ftruncate|fallocate)\((\d+),/.exec(rest);
    if (!change || !fds.has(change[2]!)) continue;
    changes++;
    const runsAlone = bytesOf(change[1]!, rest) >= WRITES_ALONE_FROM;
    if (runsAlone) alone++;
    for (const [other, their] of underWay) if (other !== thread && their.fd === change[2] && (runsAlone || their.alone)) overlapping.push(line);
    if (rest.endsWith('<unfinished ...>')) underWay.set(thread!, { fd: change[2]!, alone: runsAlone });
  }
  return { changes, alone, overlapping };
}

describe.each(configurations)('tessera-img (%s)', (configuration) => {
  it.each([
    ['raw', []],
    ['vhdx', ['-o', 'block_size=1M']],
  ] as const)('convert to %s writes large runs and truncates the target alone', async (format, options) => {
    const out = `out.${format}`;
    const trace = join(dir, `trace-${configuration}-${format}`);
    const result = await run(executable('img-tool', configuration), ['convert', '-O', format, ...options, 'in.raw', out], {
      cwd: dir,
      wrapper: ['strace', '-f', '-qq', '-s', '0', '-e', 'trace=openat,pwrite64,pwritev,ftruncate,fallocate', '-o', trace],
    });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const { changes, alone, overlapping } = overlappingChanges(readFileSync(trace, 'utf8'), out);
    rmSync(trace);
    expect(changes).toBeGreaterThanOrEqual(64); // 128 MiB in 2 MiB chunks: the record is the copy's
    expect(alone).toBeGreaterThanOrEqual(64); // and its data writes are the large kind
    expect(overlapping).toEqual([]);
    // And the copy is whole: what was serialized was not reordered into the wrong place.
    expect((await qemuImg(['compare', '-f', 'raw', '-F', format, join(dir, 'in.raw'), join(dir, out)])).code).toBe(0);
  });
});
