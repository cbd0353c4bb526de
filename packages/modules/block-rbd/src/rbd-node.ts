import type { BlockNode, BlockStatus, ImageDescription, InternalSnapshots, ResizeOptions, SnapshotInfo, WriteZeroesOptions } from '@tessera/core';
import { ERANGE, errnoText, rbdError } from './errors.ts';
import { koffi } from './ffi/koffi-addon.ts';
import { callAsync, librbd, type Handle } from './ffi/librbd.ts';
import { RbdAio } from './ffi/rbd-aio.ts';
import { qemuNodeName, type RbdLocation } from './rbd-location.ts';
import type { RbdSession } from './rbd-session.ts';

/** Largest read or write given to librbd at once (it splits by object itself; this bounds one buffer's wait). */
const MAX_TRANSFER = 32 * 1024 * 1024;
/** Longest range one allocation query covers (diff_iterate walks the object map of it). */
const MAX_STATUS_QUERY = 1 << 30;
/** librbd's RBD_FEATURE_FAST_DIFF and RBD_FLAG_FAST_DIFF_INVALID. */
const FEATURE_FAST_DIFF = 1n << 4n;
const FLAG_FAST_DIFF_INVALID = 1n << 1n;
/** RBD_WRITE_ZEROES_FLAG_THICK_PROVISION: zeroes written as data, not as holes. */
const WRITE_ZEROES_THICK = 1;

interface Extent {
  readonly start: number;
  readonly end: number;
}

/** An RBD image (or one of its snapshots, read-only) as a byte-addressed node. */
export class RbdNode implements BlockNode {
  readonly driver = 'rbd';
  private extents: { start: number; end: number; data: Extent[] } | undefined;
  private closed = false;
  private growing: Promise<void> = Promise.resolve();
  readonly internalSnapshots: InternalSnapshots;
  /** Reads and writes as librbd aio (many in flight); undefined: synchronous calls on worker threads. */
  private readonly aio: RbdAio | undefined;

  private constructor(
    private readonly session: RbdSession,
    private readonly image: Handle,
    /** qemu's name for the node (json:{…}), which `info` and `map` print. */
    readonly filename: string,
    /** The name the user gave, which messages show. */
    private readonly shown: string,
    readonly readOnly: boolean,
    public size: number,
    private readonly objectSize: number,
  ) {
    this.aio = RbdAio.open(image);
    this.internalSnapshots = {
      create: (name) => this.snapshotCall('create', name),
      apply: (name) => this.snapshotCall('rollback', name),
      delete: (name) => this.snapshotCall('remove', name),
    };
  }

  static async open(session: RbdSession, location: RbdLocation, readOnly: boolean): Promise<RbdNode> {
    const { image: imageName, snapshot, shown } = location;
    const lib = librbd();
    const out: Handle[] = [null];
    const opened = await callAsync(readOnly ? lib.rbd_open_read_only : lib.rbd_open, session.ioctx, imageName, out, snapshot ?? null);
    if (opened < 0) {
      // qemu's words, for the image and for a snapshot the image lacks alike.
      throw rbdError(`${location.failurePrefix}error reading header from ${imageName}: ${errnoText(opened)}`, opened === -2 ? (snapshot === undefined ? 'rbd-no-image' : 'rbd-no-snapshot') : 'rbd-io');
    }
    const image = out[0];
    const info: Record<string, unknown> = {};
    const stat = lib.rbd_stat(image, info, lib.imageInfoSize) as number;
    if (stat < 0) {
      await callAsync(lib.rbd_close, image);
      throw rbdError(`${location.failurePrefix}error getting image info from ${imageName}: ${errnoText(stat)}`, 'rbd-io');
    }
    return new RbdNode(session, image, qemuNodeName(location), shown, readOnly, Number(info.size), Number(info.obj_size));
  }

  async read(offset: number, into: Uint8Array): Promise<void> {
    this.checkRange('read', offset, into.length);
    const parts: Promise<void>[] = [];
    for (let done = 0; done < into.length; done += MAX_TRANSFER) {
      const part = into.subarray(done, Math.min(into.length, done + MAX_TRANSFER));
      parts.push(this.io('read', offset + done, part));
    }
    await settle(parts);
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    this.checkWritable('write', offset, data.length);
    this.extents = undefined;
    await this.growFor(offset + data.length);
    const parts: Promise<void>[] = [];
    for (let done = 0; done < data.length; done += MAX_TRANSFER) {
      const part = data.subarray(done, Math.min(data.length, done + MAX_TRANSFER));
      parts.push(this.io('write', offset + done, part));
    }
    await settle(parts);
  }

  async writeZeroes(offset: number, length: number, options: WriteZeroesOptions): Promise<void> {
    this.checkWritable('write-zeroes', offset, length);
    this.extents = undefined;
    await this.growFor(offset + length);
    const lib = librbd();
    if (lib.rbd_write_zeroes) {
      // As qemu: thick (zeroes as data) unless the range may be deallocated.
      const flags = options.mayUnmap ? 0 : WRITE_ZEROES_THICK;
      const result = this.aio?.canWriteZeroes ? await this.aio.writeZeroes(offset, length, flags) : await callAsync(lib.rbd_write_zeroes, this.image, offset, length, flags, 0);
      if (result < 0) throw this.ioError('write-zeroes', offset, length, result);
      return;
    }
    if (options.mayUnmap) {
      // Older librbd: discard reads back as zeroes on an image without a parent.
      const result = await callAsync(lib.rbd_discard, this.image, offset, length);
      if (result >= 0) return;
    }
    const zeroes = new Uint8Array(Math.min(length, 4 * 1024 * 1024));
    for (let done = 0; done < length; done += zeroes.length) {
      await this.write(offset + done, zeroes.subarray(0, Math.min(zeroes.length, length - done)));
    }
  }

  async flush(): Promise<void> {
    if (this.readOnly) return;
    const result = await callAsync(librbd().rbd_flush, this.image);
    if (result < 0) throw rbdError(`${this.shown}: flush failed: ${errnoText(result)}`, 'rbd-io');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.extents = undefined;
    const result = await callAsync(librbd().rbd_close, this.image);
    this.aio?.end();
    await this.session.end();
    if (result < 0) throw rbdError(`${this.shown}: closing the image failed: ${errnoText(result)}`, 'rbd-io');
  }

  async allocatedSize(): Promise<number | undefined> {
    return undefined; // qemu-img: "disk size: unavailable" (rbd du is a cluster-wide walk)
  }

  async resize(size: number, _options: ResizeOptions): Promise<void> {
    if (this.readOnly) throw rbdError(`${this.shown}: cannot resize: the image is open read-only`, 'EPERM');
    const result = await callAsync(librbd().rbd_resize, this.image, size);
    if (result < 0) throw rbdError(`${this.shown}: failed to resize rbd image: ${errnoText(result)}`, 'rbd-io');
    this.size = size;
    this.extents = undefined;
  }

  /** qemu's rbd get_info: the object size is the cluster size; the snapshots are the image's. */
  // qemu's rbd driver answers bdrv_get_info, so qemu-img shows a dirty flag (never set) for raw on rbd.
  describe(): ImageDescription {
    return { clusterSize: this.objectSize, snapshots: this.listSnapshots(), dirty: false };
  }

  /**
   * Allocation as qemu's rbd driver reports it: with fast-diff (its object map valid), whole
   * objects that exist are data, the others read as zeroes; without it, everything is data.
   */
  async blockStatus(offset: number, length: number): Promise<BlockStatus> {
    length = Math.min(length, this.size - offset);
    if (!this.fastDiff()) return { length, zero: false, data: true, offset, allocated: true, file: this.filename };
    if (!this.extents || offset < this.extents.start || offset >= this.extents.end) this.queryAllocation(offset, length);
    const { end, data } = this.extents!;
    const inside = data.find((e) => e.start <= offset && offset < e.end);
    if (inside) return { length: Math.min(length, inside.end - offset), zero: false, data: true, offset, allocated: true, file: this.filename };
    const next = data.find((e) => e.start > offset)?.start ?? end;
    return { length: Math.min(length, next - offset), zero: true, data: false, offset, allocated: true, file: this.filename };
  }

  private fastDiffKnown: boolean | undefined;

  private fastDiff(): boolean {
    if (this.fastDiffKnown !== undefined) return this.fastDiffKnown;
    const lib = librbd();
    let usable = false;
    if (lib.rbd_diff_iterate2 && lib.rbd_get_features && lib.rbd_get_flags) {
      const features: bigint[] = [0n];
      const flags: bigint[] = [0n];
      usable =
        (lib.rbd_get_features(this.image, features) as number) >= 0 &&
        (lib.rbd_get_flags(this.image, flags) as number) >= 0 &&
        (BigInt(features[0]!) & FEATURE_FAST_DIFF) !== 0n &&
        (BigInt(flags[0]!) & FLAG_FAST_DIFF_INVALID) === 0n;
    }
    return (this.fastDiffKnown = usable);
  }

  /** The objects holding data in [offset, offset + up to 1 GiB), merged into runs. */
  private queryAllocation(offset: number, length: number): void {
    const start = offset - (offset % this.objectSize);
    const end = Math.min(this.size, start + Math.max(length + (offset - start), Math.min(MAX_STATUS_QUERY, this.size - start)));
    const data: Extent[] = [];
    const result = librbd().rbd_diff_iterate2!(this.image, null, start, end - start, 1, 1, (at: number | bigint, len: number | bigint, exists: number) => {
      if (!exists) return 0;
      const s = Math.max(start, Number(at));
      const e = Math.min(end, Number(at) + Number(len));
      const last = data[data.length - 1];
      if (last && last.end === s) data[data.length - 1] = { start: last.start, end: e };
      else if (e > s) data.push({ start: s, end: e });
      return 0;
    }, null) as number;
    if (result < 0) throw rbdError(`${this.shown}: reading the allocation map failed: ${errnoText(result)}`, 'rbd-io');
    this.extents = { start, end, data };
  }

  private listSnapshots(): SnapshotInfo[] {
    const lib = librbd();
    for (let room = 16; room <= 1 << 16; ) {
      const buffer = Buffer.alloc(room * lib.snapInfoSize);
      const max = [room];
      const count = lib.rbd_snap_list(this.image, buffer, max) as number;
      if (count === ERANGE) {
        room = Math.max(room * 2, max[0]! + 1);
        continue;
      }
      if (count < 0) throw rbdError(`${this.shown}: listing snapshots failed: ${errnoText(count)}`, 'rbd-io');
      const snapshots: SnapshotInfo[] = [];
      try {
        for (let i = 0; i < count; i++) {
          const info = decodeSnapInfo(buffer, i * lib.snapInfoSize, lib.snapInfoType);
          // As qemu's rbd driver: the name is both id and tag; the size is the image's at the snapshot; no dates.
          snapshots.push({ id: info.name, name: info.name, vmStateSize: Number(info.size), dateSec: 0, dateNsec: 0, vmClockNsec: 0, icount: 0 });
        }
      } finally {
        lib.rbd_snap_list_end(buffer);
      }
      return snapshots;
    }
    throw rbdError(`${this.shown}: the image has more snapshots than this tool lists`, 'rbd-io');
  }

  private async snapshotCall(action: 'create' | 'rollback' | 'remove', name: string): Promise<void> {
    if (this.readOnly) throw rbdError(`${this.shown}: cannot ${action} snapshot '${name}': the image is open read-only`, 'EPERM');
    const lib = librbd();
    if (action !== 'create' && !this.listSnapshots().some((s) => s.name === name)) {
      throw rbdError(`snapshot not found`, 'rbd-no-snapshot');
    }
    const fn = action === 'create' ? lib.rbd_snap_create : action === 'rollback' ? lib.rbd_snap_rollback : lib.rbd_snap_remove;
    const result = await callAsync(fn, this.image, name);
    // qemu-img's words for a failed create (`-17 (File exists)`); librbd's reason for the others.
    if (result < 0) throw rbdError(action === 'create' ? `${result} (${errnoText(result)})` : `failed to ${action === 'rollback' ? 'rollback to' : action} snap: ${errnoText(result)}`, 'rbd-io');
    this.extents = undefined;
  }

  private async io(what: 'read' | 'write', offset: number, buffer: Uint8Array): Promise<void> {
    const length = buffer.length;
    const lib = librbd();
    const result = this.aio
      ? await (what === 'read' ? this.aio.read(offset, buffer) : this.aio.write(offset, buffer))
      : await callAsync(what === 'read' ? lib.rbd_read : lib.rbd_write, this.image, offset, length, buffer);
    if (result < 0) throw this.ioError(what, offset, length, result);
    // A completed aio write reports 0 (the synchronous call, the length); a read, the bytes read.
    if (result !== length && !(this.aio && what === 'write')) throw rbdError(`${this.shown}: ${what} of ${length} bytes at offset ${offset} transferred ${result}`, 'rbd-io');
  }

  private ioError(what: string, offset: number, length: number, result: number): Error {
    return rbdError(`${this.shown}: ${what} of ${length} bytes at offset ${offset} failed: ${errnoText(result)}`, 'rbd-io');
  }

  private checkRange(what: string, offset: number, length: number): void {
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + length > this.size) {
      throw rbdError(`${this.shown}: ${what} of ${length} bytes at offset ${offset} is beyond the end of the image (${this.size} bytes)`, 'invalid-option');
    }
  }

  private checkWritable(what: string, offset: number, length: number): void {
    if (this.readOnly) throw rbdError(`${this.shown}: cannot ${what} ${length} bytes at offset ${offset}: the image is open read-only`, 'EPERM');
    if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(offset + length)) this.checkRange(what, offset, length);
  }

  /**
   * A write past the end grows the image first, as qemu's rbd driver does: a format over rbd
   * (qcow2) appends clusters the way it appends to a file.
   */
  private async growFor(end: number): Promise<void> {
    if (end <= this.size) return;
    // One resize at a time, each only ever growing: concurrent writes past the end must not
    // shrink the image under each other.
    const step = this.growing.then(async () => {
      if (end <= this.size) return;
      const result = await callAsync(librbd().rbd_resize, this.image, end);
      if (result < 0) throw rbdError(`${this.shown}: growing the image to ${end} bytes failed: ${errnoText(result)}`, 'rbd-io');
      this.size = end;
    });
    this.growing = step.catch(() => undefined);
    await step;
  }
}

function decodeSnapInfo(buffer: Buffer, at: number, type: unknown): { size: number | bigint; name: string } {
  // koffi decodes the struct at that offset, following `name` (a C string librbd allocated).
  return koffi().decode(buffer, at, type) as { size: number | bigint; name: string };
}

async function settle(parts: Promise<void>[]): Promise<void> {
  const results = await Promise.allSettled(parts);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

