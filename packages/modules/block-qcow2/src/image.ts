import type { BlockNode, BlockStatus, ImageDescription } from '@tessera/core';
import { ClusterMap } from './cluster/mapping.ts';
import { decompressCluster } from './compress.ts';
import { corrupt } from './errors.ts';
import { COMPAT_LAZY_REFCOUNTS, INCOMPAT_CORRUPT, INCOMPAT_DIRTY, AUTOCLEAR_DATA_FILE_RAW } from './header/features.ts';
import type { Qcow2Header } from './header/header.ts';
import { readHost } from './host-read.ts';

/** An open qcow2 image (read-only): guest reads through the cluster map, backing file and data file. */
export class Qcow2Image implements BlockNode {
  readonly driver = 'qcow2';
  readonly readOnly = true;

  constructor(
    readonly child: BlockNode,
    readonly header: Qcow2Header,
    private readonly map: ClusterMap,
    private readonly backing: BlockNode | undefined,
    private readonly dataFile: BlockNode | undefined,
  ) {}

  get filename(): string {
    return this.child.filename;
  }
  get size(): number {
    return this.header.size;
  }

  async read(offset: number, into: Uint8Array): Promise<void> {
    if (offset < 0 || offset + into.length > this.size) {
      throw new Error(`${this.filename}: read of ${into.length} bytes at ${offset} is beyond the end (${this.size})`);
    }
    let done = 0;
    while (done < into.length) {
      const extent = await this.map.lookup(offset + done, into.length - done);
      const part = into.subarray(done, done + extent.length);
      await this.readExtent(offset + done, extent, part);
      done += extent.length;
    }
  }

  async write(): Promise<void> {
    throw new Error(`${this.filename}: writing qcow2 images is not supported yet`);
  }

  async flush(): Promise<void> {}

  async close(): Promise<void> {
    await this.backing?.close();
    await this.dataFile?.close();
    await this.child.close();
  }

  async allocatedSize(): Promise<number | undefined> {
    return this.child.allocatedSize?.();
  }

  async blockStatus(offset: number, length: number): Promise<BlockStatus> {
    const extent = await this.map.lookup(offset, length);
    switch (extent.kind) {
      case 'data':
        return { length: extent.length, zero: false, data: true, offset: extent.hostPosition! };
      case 'compressed':
        return { length: extent.length, zero: false, data: true };
      case 'zero':
        return { length: extent.length, zero: true, data: false };
      case 'unallocated':
        return { length: extent.length, zero: !this.backing, data: false };
    }
  }

  describe(): ImageDescription {
    const h = this.header;
    const data: Record<string, unknown> =
      h.version === 2
        ? { compat: '0.10', 'compression-type': 'zlib', 'refcount-bits': 2 ** h.refcountOrder }
        : {
            compat: '1.1',
            'compression-type': 'zlib',
            'lazy-refcounts': (h.compatible & COMPAT_LAZY_REFCOUNTS) !== 0n,
            'refcount-bits': 2 ** h.refcountOrder,
            ...(h.extensions.dataFile !== undefined
              ? { 'data-file': h.extensions.dataFile, 'data-file-raw': (h.autoclear & AUTOCLEAR_DATA_FILE_RAW) !== 0n }
              : {}),
            corrupt: (h.incompatible & INCOMPAT_CORRUPT) !== 0n,
            'extended-l2': h.extendedL2,
          };
    return {
      clusterSize: h.clusterSize,
      ...(h.backingFile !== undefined ? { backingFile: h.backingFile } : {}),
      ...(h.extensions.backingFormat !== undefined ? { backingFormat: h.extensions.backingFormat } : {}),
      dirty: (h.incompatible & INCOMPAT_DIRTY) !== 0n,
      formatSpecific: { type: 'qcow2', data },
    };
  }

  private async readExtent(guestOffset: number, extent: Awaited<ReturnType<ClusterMap['lookup']>>, into: Uint8Array): Promise<void> {
    switch (extent.kind) {
      case 'zero':
        into.fill(0);
        return;
      case 'unallocated':
        return this.readBacking(guestOffset, into);
      case 'data':
        return readHost(this.dataFile ?? this.child, extent.hostPosition!, into);
      case 'compressed': {
        if (this.dataFile) throw corrupt(this.filename, 'compressed cluster in an image with an external data file');
        const clusterSize = this.header.clusterSize;
        if (extent.compressedLength > 2 * clusterSize) throw corrupt(this.filename, 'compressed cluster is larger than two clusters');
        const compressed = new Uint8Array(extent.compressedLength);
        await readHost(this.child, extent.hostOffset, compressed);
        let cluster: Uint8Array;
        try {
          cluster = await decompressCluster(compressed, clusterSize);
        } catch (error) {
          throw corrupt(this.filename, `compressed cluster at ${extent.hostOffset}: ${(error as Error).message}`);
        }
        const inCluster = guestOffset % clusterSize;
        into.set(cluster.subarray(inCluster, inCluster + into.length));
        return;
      }
    }
  }

  /** Unallocated ranges come from the backing file; beyond its end (or without one) they are zero. */
  private async readBacking(offset: number, into: Uint8Array): Promise<void> {
    const available = this.backing ? Math.max(0, Math.min(into.length, this.backing.size - offset)) : 0;
    if (available > 0) await this.backing!.read(offset, into.subarray(0, available));
    into.fill(0, available);
  }
}
