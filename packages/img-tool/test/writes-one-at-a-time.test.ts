// A file's changes reach the kernel one at a time: a second buffered write to the same file spins
// on its inode lock while the first copies (block-file's oneAtATime says why). Checked on the built
// executable, whose system calls strace records: no write or truncate of the target starts while
// another thread's is still under way, for a convert's own writes (raw, two chunks' writes queued)
// and for a format that adds metadata writes and file growth beside the data (vhdx: log, BAT,
// ftruncate per block).
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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

/** Changes of `target` that started while another thread's change of it was under way, in strace's record. */
function overlappingChanges(trace: string, target: string): { changes: number; overlapping: string[] } {
  const fds = new Set<string>();
  const underWay = new Map<string, string>(); // thread -> fd of its unfinished change
  const overlapping: string[] = [];
  let changes = 0;
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
    for (const [other, fd] of underWay) if (other !== thread && fd === change[2]) overlapping.push(line);
    if (rest.endsWith('<unfinished ...>')) underWay.set(thread!, change[2]!);
  }
  return { changes, overlapping };
}

describe.each(configurations)('tessera-img (%s)', (configuration) => {
  it.each([
    ['raw', []],
    ['vhdx', ['-o', 'block_size=1M']],
  ] as const)('convert to %s changes the target one call at a time', async (format, options) => {
    const out = `out.${format}`;
    const trace = join(dir, `trace-${configuration}-${format}`);
    const result = await run(executable('img-tool', configuration), ['convert', '-O', format, ...options, 'in.raw', out], {
      cwd: dir,
      wrapper: ['strace', '-f', '-qq', '-e', 'trace=openat,pwrite64,pwritev,ftruncate,fallocate', '-o', trace],
    });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const { changes, overlapping } = overlappingChanges(readFileSync(trace, 'utf8'), out);
    rmSync(trace);
    expect(changes).toBeGreaterThanOrEqual(64); // 128 MiB in 2 MiB chunks: the record is the copy's
    expect(overlapping).toEqual([]);
    // And the copy is whole: what was serialized was not reordered into the wrong place.
    expect((await qemuImg(['compare', '-f', 'raw', '-F', format, join(dir, 'in.raw'), join(dir, out)])).code).toBe(0);
  });
});
