// Small pieces tested on their own (no executable, no guest): the escape keys, the disk adapter,
// the boot order and the MAC.
import type { BlockNode } from '@tessera/core';
import { describe, expect, it } from 'vitest';
import { EscapeDecoder } from '../src/console/escape-keys.ts';
import { cp437ToUnicode } from '../src/console/cp437.ts';
import { V86Disk } from '../src/disk/v86-disk.ts';
import { v86BootOrder } from '../src/machine/boot-files.ts';
import { defaultMac, formatMac } from '../src/net/nic-mac.ts';

describe('Ctrl-a escape', () => {
  it('passes keys through, quits on C-a x, helps on C-a h, sends C-a on C-a C-a, across chunks', () => {
    const decoder = new EscapeDecoder();
    expect(decoder.decode(Buffer.from('ls\r'))).toEqual([{ kind: 'guest', data: Uint8Array.from(Buffer.from('ls\r')) }]);
    expect(decoder.decode(Uint8Array.of(0x61, 0x01))).toEqual([{ kind: 'guest', data: Uint8Array.of(0x61) }]);
    expect(decoder.decode(Uint8Array.of(0x01))).toEqual([{ kind: 'guest', data: Uint8Array.of(0x01) }]);
    expect(decoder.decode(Uint8Array.of(0x01, 0x68, 0x62))).toEqual([{ kind: 'help' }, { kind: 'guest', data: Uint8Array.of(0x62) }]);
    expect(decoder.decode(Uint8Array.of(0x63, 0x01, 0x78, 0x64))).toEqual([{ kind: 'guest', data: Uint8Array.of(0x63) }, { kind: 'quit' }]);
  });
});

/** An in-memory BlockNode whose operations finish in a chosen order. */
function memoryNode(size: number, delays: { read?: number; write?: number } = {}): BlockNode & { bytes: Uint8Array } {
  const bytes = new Uint8Array(size);
  const wait = (ms = 0) => new Promise((r) => setTimeout(r, ms));
  return {
    bytes,
    driver: 'memory',
    filename: 'memory',
    size,
    readOnly: false,
    async read(offset, into) {
      await wait(delays.read);
      into.set(bytes.subarray(offset, offset + into.length));
    },
    async write(offset, data) {
      await wait(delays.write);
      bytes.set(data, offset);
    },
    async flush() {},
    async close() {},
  };
}

describe('V86Disk (BlockNode as a v86 disk)', () => {
  it('a read after a write sees the write even when the write is slower', async () => {
    const node = memoryNode(4096, { write: 30, read: 0 });
    const disk = new V86Disk(node, (e) => {
      throw e;
    });
    expect(disk.byteLength).toBe(4096);
    const data = new Uint8Array(512).fill(7);
    disk.set(512, data, () => {});
    data.fill(0); // v86 reuses its buffer: the adapter must have copied it
    const read = await new Promise<Uint8Array>((resolve) => disk.get(512, 512, resolve));
    expect(read.every((b) => b === 7)).toBe(true);
    await disk.drain();
    expect(node.bytes[512]).toBe(7);
  });

  it('keeps the MBR for synchronous geometry reads and updates it on writes', async () => {
    const node = memoryNode(4096);
    node.bytes[510] = 0x55;
    const disk = new V86Disk(node, () => {});
    expect(disk.get_from_cache(0, 512)).toBeUndefined();
    await new Promise((resolve) => disk.get_and_cache(0, 512, resolve));
    expect(disk.get_from_cache(0, 512)![510]).toBe(0x55);
    disk.set(0, new Uint8Array(512).fill(1));
    expect(disk.get_from_cache(0, 512)![510]).toBe(1);
  });

  it('an aborted read does not call back; a host error is reported once and remembered', async () => {
    const node = memoryNode(1024);
    const errors: Error[] = [];
    const disk = new V86Disk({ ...node, read: () => Promise.reject(new Error('gone')) }, (e) => errors.push(e));
    const controller = new AbortController();
    controller.abort();
    let called = false;
    disk.get(0, 512, () => (called = true), { signal: controller.signal });
    await disk.drain();
    expect(called).toBe(false);
    expect(errors.map((e) => e.message)).toEqual(['gone']);
    expect(disk.failed?.message).toBe('gone');
  });

  it('answers reads within a recently read window at once, with the guest\'s later writes in them', async () => {
    const node = memoryNode(512 * 1024);
    node.bytes.fill(3, 4096, 8192);
    let hostReads = 0;
    const disk = new V86Disk({ ...node, read: (offset, into) => (hostReads++, node.read(offset, into)) }, (e) => {
      throw e;
    });
    const first = await new Promise<Uint8Array>((resolve) => disk.get(4096, 512, resolve));
    expect(first.every((b) => b === 3)).toBe(true);
    // The next sector of the same window: called back before get() returns, no host read.
    let next: Uint8Array | undefined;
    disk.get(4608, 512, (data) => (next = data));
    expect(next?.every((b) => b === 3)).toBe(true);
    expect(hostReads).toBe(1);
    // The caller may scribble on what it got: the window keeps its bytes.
    next!.fill(9);
    disk.set(5120, new Uint8Array(512).fill(5));
    await disk.drain();
    let again: Uint8Array | undefined;
    disk.get(4608, 1024, (data) => (again = data));
    expect([...again!.subarray(0, 512)].every((b) => b === 3) && [...again!.subarray(512)].every((b) => b === 5)).toBe(true);
    expect(hostReads).toBe(1);
    // While a write is queued a read waits its turn (never answered ahead of it).
    disk.set(4096, new Uint8Array(512).fill(6));
    let queued: Uint8Array | undefined;
    disk.get(4096, 512, (data) => (queued = data));
    expect(queued).toBeUndefined();
    await disk.drain();
    expect(queued?.every((b) => b === 6)).toBe(true);
    // A read across a window's end (a boot loader's 63.5 KiB reads) fetches both windows, then hits.
    node.bytes.fill(8, 128 * 1024, 129 * 1024);
    const crossing = await new Promise<Uint8Array>((resolve) => disk.get(128 * 1024 - 512, 1024, resolve));
    expect([crossing[0], crossing[511], crossing[512], crossing[1023]]).toEqual([0, 0, 8, 8]);
    expect(hostReads).toBe(2);
    let across: Uint8Array | undefined;
    disk.get(127 * 1024, 63 * 1024, (data) => (across = data));
    expect(across?.length).toBe(63 * 1024);
    expect(across![1024]).toBe(8);
    expect(hostReads).toBe(2);
  });

  it('a window read while the guest writes into it is not kept', async () => {
    const node = memoryNode(256 * 1024, { read: 20 });
    const disk = new V86Disk(node, (e) => {
      throw e;
    });
    disk.get(0, 512, () => {});
    disk.set(1024, new Uint8Array(512).fill(4));
    await disk.drain();
    let read: Uint8Array | undefined;
    disk.get(1024, 512, (data) => (read = data));
    await disk.drain();
    expect(read?.every((b) => b === 4)).toBe(true);
  });
});

describe('machine details', () => {
  it('boot order letters become v86 nibbles, first device lowest', () => {
    expect(v86BootOrder('c')).toBe(0x132); // hd, cd, floppy
    expect(v86BootOrder('d')).toBe(0x123);
    expect(v86BootOrder('a')).toBe(0x321);
  });

  it('MACs are QEMU-like and deterministic; VGA characters map to Unicode', () => {
    expect(formatMac(defaultMac(0))).toBe('52:54:00:12:34:56');
    expect(formatMac(defaultMac(1))).toBe('52:54:00:12:34:57');
    expect(cp437ToUnicode(0x41)).toBe('A');
    expect(cp437ToUnicode(0xc9)).toBe('╔');
    expect(cp437ToUnicode(0xdb)).toBe('█');
  });
});
