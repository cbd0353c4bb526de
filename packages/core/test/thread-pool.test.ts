// sizeThreadPool sets the variable libuv reads when its pool starts, unless the user has set it.
import { availableParallelism } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { sizeThreadPool } from '../src/index.ts';

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

