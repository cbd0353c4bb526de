// A file size limit (ulimit -f, as a quota or a careful administrator sets one) reached in the
// middle of a convert onto raw: the source's fine fragments make each 2 MiB chunk a few dozen
// small writes, which block-file makes in one thread-pool job per chunk (write-batch.ts). The
// writes past the limit fail with EFBIG, the ones before it land, and the command fails as
// qemu-img's does: the same message, the same bytes left in the target.
import { execFile } from 'node:child_process';
import { readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { fragmentedRaw } from '../../../tools/test-support/fragmented-raw.ts';
import { executable, run } from '../../../tools/test-support/executables.ts';
import { MiB, asTessera, configurations, tempDir, type RunResult } from './helpers.ts';

/**
 * The limit in 1 KiB blocks: inside the last 2 MiB chunk, not on a write's edge (in an earlier
 * chunk, the chunk after it, all past the limit, may fail first: which one is named would be luck).
 */
const LIMIT_KIB = 7000;
/** Run the rest of the command line under the limit, SIGXFSZ ignored (the write then fails with EFBIG). */
const limited = ['bash', '-c', `ulimit -f ${LIMIT_KIB}; trap '' XFSZ; exec "$@"`, 'limited'];

let dir: string;
let source: Buffer;

beforeAll(async () => {
  dir = await tempDir();
  source = fragmentedRaw(join(dir, 'in.raw'), 8 * MiB, 7);
});

function qemuImgLimited(args: readonly string[]): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(limited[0]!, [...limited.slice(1), 'qemu-img', ...args], { cwd: dir, encoding: 'utf8' }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

/** The pwrite64 calls strace saw: thread, position, length, and the errno name when it failed. */
function pwrites(trace: string): Array<{ thread: number; position: number; length: number; error?: string }> {
  const calls: Array<{ thread: number; position: number; length: number; error?: string }> = [];
  const started = new Map<number, { position: number; length: number }>();
  for (const line of trace.split('\n')) {
    const call = /^(\d+) +pwrite64\(\d+, .*, (\d+), (\d+)(\) += (-?\d+)(?: (E[A-Z]+))?| <unfinished \.\.\.>)/.exec(line);
    const resumed = /^(\d+) +<\.\.\. pwrite64 resumed>.*= (-?\d+)(?: (E[A-Z]+))?/.exec(line);
    if (call && call[4]!.startsWith(')')) calls.push({ thread: Number(call[1]), length: Number(call[2]), position: Number(call[3]), ...(call[6] ? { error: call[6] } : {}) });
    else if (call) started.set(Number(call[1]), { length: Number(call[2]), position: Number(call[3]) });
    else if (resumed) {
      const thread = Number(resumed[1]);
      calls.push({ thread, ...started.get(thread)!, ...(resumed[3] ? { error: resumed[3] } : {}) });
    }
  }
  return calls;
}

describe.each(configurations)('a file size limit reached during convert -n onto raw (%s)', (configuration) => {
  it("qemu-img's message and exit, the same bytes written; each chunk's writes made by one thread, one after the other", async () => {
    const [ours, theirs] = [join(dir, `ours-${configuration}.raw`), join(dir, `qemu-${configuration}.raw`)];
    for (const file of [ours, theirs]) {
      writeFileSync(file, ''); // made outside the limit; -n writes into them
      truncateSync(file, 8 * MiB);
    }
    const args = ['convert', '-n', '-f', 'raw', '-O', 'raw', 'in.raw'];
    const qemu = asTessera(await qemuImgLimited([...args, theirs]));
    const trace = join(dir, `pwrite-${configuration}.strace`);
    const result = await run(executable('img-tool', configuration), [...args, ours], {
      cwd: dir,
      wrapper: [...limited, 'strace', '-f', '-qq', '-o', trace, '-e', 'trace=pwrite64'],
    });
    expect(qemu.code).toBe(1);
    expect(qemu.stderr).toMatch(/error while writing at byte \d+: File too large/);
    expect(result).toEqual(qemu);
    const written = readFileSync(ours);
    expect(written.equals(readFileSync(theirs))).toBe(true);
    // Everything below the limit was written: the source's bytes there.
    expect(written.subarray(0, LIMIT_KIB * 1024).equals(source.subarray(0, LIMIT_KIB * 1024))).toBe(true);

    const calls = pwrites(readFileSync(trace, 'utf8'));
    expect(calls.some((call) => call.error === 'EFBIG')).toBe(true);
    const chunks = new Map<number, Array<{ thread: number; position: number }>>();
    for (const call of calls) chunks.set(Math.floor(call.position / (2 * MiB)), [...(chunks.get(Math.floor(call.position / (2 * MiB))) ?? []), call]);
    // Every chunk was written in many small writes...
    for (const index of [0, 1, 2, 3]) expect(chunks.get(index)!.length).toBeGreaterThan(20);
    for (const writes of chunks.values()) {
      // ...all made by one thread, in offset order (fs.write spreads them over the pool's threads).
      expect(new Set(writes.map((write) => write.thread)).size).toBe(1);
      expect(writes.map((write) => write.position)).toEqual(writes.map((write) => write.position).sort((a, b) => a - b));
    }
  });
});
