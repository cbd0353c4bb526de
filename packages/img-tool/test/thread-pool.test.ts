// The thread pool is sized to the CPUs unless the user has sized it: checked on the variable libuv
// reads, and on runs of the built executable, whose file I/O threads strace counts.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { sizeThreadPool } from '../src/cli/thread-pool.ts';
import { configurations, MiB, tempDir } from './helpers.ts';
import { executable, run } from '../../../tools/test-support/executables.ts';

const expectedSize = Math.min(16, Math.max(2, availableParallelism()));

describe('sizeThreadPool', () => {
  const saved = process.env.UV_THREADPOOL_SIZE;
  afterEach(() => {
    if (saved === undefined) delete process.env.UV_THREADPOOL_SIZE;
    else process.env.UV_THREADPOOL_SIZE = saved;
  });

  it('asks libuv for as many threads as CPUs, two at least and sixteen at most', () => {
    delete process.env.UV_THREADPOOL_SIZE;
    sizeThreadPool();
    expect(process.env.UV_THREADPOOL_SIZE).toBe(String(expectedSize));
  });

  it('gives the commands that only read metadata two threads, without asking for the CPUs', () => {
    delete process.env.UV_THREADPOOL_SIZE;
    sizeThreadPool(true);
    expect(process.env.UV_THREADPOOL_SIZE).toBe('2');
  });

  it('leaves a size the user has set', () => {
    process.env.UV_THREADPOOL_SIZE = '7';
    sizeThreadPool();
    expect(process.env.UV_THREADPOOL_SIZE).toBe('7');
  });
});

let dir: string;
beforeAll(async () => {
  dir = await tempDir();
  // Enough chunks that a copy keeps more reads and writes under way than the pool has threads.
  writeFileSync(join(dir, 'in.raw'), Buffer.alloc(64 * MiB, 0x33));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The threads other than the main one that read or wrote a file during a convert. */
async function ioThreads(exe: string, env: Record<string, string | undefined>): Promise<number> {
  const trace = join(dir, `trace-${Math.random().toString(36).slice(2)}`);
  const result = await run(exe, ['convert', '-O', 'qcow2', 'in.raw', 'out.qcow2'], {
    cwd: dir,
    env,
    wrapper: ['strace', '-f', '-qq', '-e', 'trace=pread64,pwrite64', '-o', trace],
  });
  expect(result.code).toBe(0);
  const lines = readFileSync(trace, 'utf8').split('\n').filter((line) => /^\d+ +p(read|write)64\(/.test(line));
  rmSync(trace);
  const mainThread = lines[0]!.split(' ')[0]; // node reads its own libraries first, on the main thread
  return new Set(lines.map((line) => line.split(' ')[0]).filter((tid) => tid !== mainThread)).size;
}

describe.each(configurations)('tessera-img (%s)', (configuration) => {
  it('does its file I/O on as many threads as CPUs, or as UV_THREADPOOL_SIZE says', async () => {
    const exe = executable('img-tool', configuration);
    const sized = await ioThreads(exe, { UV_THREADPOOL_SIZE: undefined });
    expect(sized).toBeGreaterThanOrEqual(1);
    expect(sized).toBeLessThanOrEqual(expectedSize);
    expect(await ioThreads(exe, { UV_THREADPOOL_SIZE: '1' })).toBe(1);
    expect(await ioThreads(exe, { UV_THREADPOOL_SIZE: '6' })).toBeGreaterThan(expectedSize === 2 ? 2 : 0);
  });
});
