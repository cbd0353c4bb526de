// The read-buffer pool without a connection: which buffers come back (by their memory, as the
// collector would see them), a request served from a larger free buffer, and the bound that grows
// with the connections open and shrinks a while after they close.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { BufferPool } from '../src/server/buffer-pool.ts';

const KiB = 1024;

/** Take `count` buffers of `length` bytes, then give them all back; their memory. */
function cycle(pool: BufferPool, count: number, length: number): ArrayBufferLike[] {
  const taken = Array.from({ length: count }, () => pool.take(length));
  for (const buffer of taken) buffer.release();
  return taken.map((b) => b.bytes.buffer);
}

describe('BufferPool', () => {
  it('serves a request from a larger free buffer rather than allocating one', () => {
    const pool = new BufferPool(4096 * KiB);
    const [large] = cycle(pool, 1, 1024 * KiB);
    const small = pool.take(200 * KiB);
    expect(small.bytes.length).toBe(200 * KiB);
    expect(small.bytes.buffer).toBe(large);
    // Still in use: the next request of that size gets other memory.
    expect(pool.take(200 * KiB).bytes.buffer).not.toBe(large);
  });

  afterEach(() => {
    vi.useRealTimers();
  });

  it('keeps a share per open connection, and gives the extra back a while after the connection closes', () => {
    vi.useFakeTimers();
    const pool = new BufferPool(1024 * KiB, 10_000);
    const closes = [pool.open(), pool.open()];
    const first = cycle(pool, 8, 256 * KiB); // 2 MiB: both connections' shares
    expect(cycle(pool, 8, 256 * KiB).filter((memory) => first.includes(memory))).toHaveLength(8);
    closes[0]!();
    closes[0]!(); // twice: counted once
    // Kept for a client that comes back soon: every buffer is reused.
    vi.advanceTimersByTime(9_000);
    expect(cycle(pool, 8, 256 * KiB).filter((memory) => first.includes(memory))).toHaveLength(8);
    vi.advanceTimersByTime(1_000);
    const after = cycle(pool, 8, 256 * KiB);
    expect(after.filter((memory) => first.includes(memory))).toHaveLength(4);
    // With none open, the pool keeps one share.
    closes[1]!();
    const reopened = pool.open();
    vi.advanceTimersByTime(10_000);
    expect(cycle(pool, 8, 256 * KiB).filter((memory) => after.includes(memory))).toHaveLength(4);
    reopened();
    vi.advanceTimersByTime(10_000);
    const idle = cycle(pool, 8, 256 * KiB);
    expect(idle.filter((memory) => after.includes(memory))).toHaveLength(4);
  });

  it('keeps every share for a client that closes its connections and opens them again soon (nbdcopy after nbdcopy)', () => {
    vi.useFakeTimers();
    const pool = new BufferPool(1024 * KiB, 10_000);
    const first = [pool.open(), pool.open()];
    const memory = cycle(pool, 8, 256 * KiB);
    for (const close of first) close();
    vi.advanceTimersByTime(2_000);
    const again = [pool.open(), pool.open()];
    // The trim that the closes scheduled finds two connections open: both shares stay.
    vi.advanceTimersByTime(10_000);
    expect(cycle(pool, 8, 256 * KiB).filter((m) => memory.includes(m))).toHaveLength(8);
    for (const close of again) close();
  });
});
