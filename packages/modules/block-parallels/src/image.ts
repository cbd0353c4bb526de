// Guest I/O through the BAT: allocated clusters map to the file, others read as zeroes; a write to
// an unallocated cluster appends a whole cluster at the end of the data and then records it.
// As qemu's driver, a write that reaches the file's end grows the file by the open option
// prealloc-size beyond the new cluster, and closing cuts the file back to the end of the data.
import type { BlockNode, BlockStatus, CheckRepair, CheckResult } from '@tessera/core';
import { codedError } from '@tessera/module-kit/coded-error';
import { eachCluster } from '@tessera/module-kit/format/each-cluster';
import { HEADER_BYTES, INUSE_MAGIC, SECTOR, clusterBytes, encodeHeader, encodeU32, entryUnit, type ParallelsHeader } from './layout.ts';
import { Serial } from '@tessera/module-kit/serial';
import type { Preallocation } from './open-options.ts';

export class ParallelsImage {
  private readonly allocating = new Serial();
  /** End of the last cluster the BAT uses (the data offset when none): where the next one goes. */
  dataEnd: number;

  constructor(
    readonly file: BlockNode,
    readonly header: ParallelsHeader,
    readonly bat: Uint32Array,
    private readonly preallocation: Preallocation,
  ) {
    this.dataEnd = this.lastClusterEnd();
  }

  get clusterSize(): number {
    return clusterBytes(this.header);
  }
  get size(): number {
    return this.header.sectors * 512;
  }

  /** Host offset of a cluster, or undefined when unallocated (or past the BAT); bad entries are errors. */
  hostOffset(cluster: number): number | undefined {
    if (cluster >= this.bat.length) return undefined;
    const entry = this.bat[cluster]!;
    if (entry === 0) return undefined;
    const offset = entry * entryUnit(this.header);
    if (offset < this.header.dataOffset || offset + this.clusterSize > this.file.size) {
      throw codedError(`Parallels image is corrupt: cluster ${cluster} maps to offset ${offset}, outside the data area of the file`, 'corrupt-image');
    }
    return offset;
  }

  async read(offset: number, into: Uint8Array): Promise<void> {
    await eachCluster(offset, into.length, this.clusterSize, async (cluster, within, at, n) => {
      const host = this.hostOffset(cluster);
      const part = into.subarray(at, at + n);
      if (host === undefined) part.fill(0);
      else await this.file.read(host + within, part);
    });
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    await eachCluster(offset, data.length, this.clusterSize, async (cluster, within, at, n) => {
      const part = data.subarray(at, at + n);
      const host = this.hostOffset(cluster) ?? (await this.allocate(cluster, within, part));
      if (host !== undefined) await this.file.write(host + within, part);
    });
  }

  /** Append the cluster holding `part` (zeroes elsewhere) and record it; undefined: `part` is written. */
  private allocate(cluster: number, within: number, part: Uint8Array): Promise<number | undefined> {
    return this.allocating.run(async () => {
      const existing = this.hostOffset(cluster);
      if (existing !== undefined) return existing;
      if (cluster >= this.bat.length) throw codedError(`Parallels image is corrupt: cluster ${cluster} is beyond its BAT`, 'corrupt-image');
      const unit = entryUnit(this.header);
      if (this.dataEnd % unit !== 0) throw codedError('Parallels image is corrupt: its data end is not aligned to BAT units', 'corrupt-image');
      const host = this.dataEnd;
      if (host + this.clusterSize > this.file.size) await this.growFile(host + this.clusterSize + this.preallocation.bytes);
      const whole = new Uint8Array(this.clusterSize);
      whole.set(part, within);
      await this.file.write(host, whole);
      this.dataEnd += this.clusterSize;
      this.bat[cluster] = host / unit;
      await this.file.write(HEADER_BYTES + cluster * 4, encodeU32(host / unit));
      return undefined;
    });
  }

  async blockStatus(offset: number, length: number): Promise<BlockStatus> {
    const cs = this.clusterSize;
    const end = Math.min(offset + length, this.size);
    const first = Math.floor(offset / cs);
    const host = this.hostOffset(first);
    let until = Math.min((first + 1) * cs, end);
    for (let c = first + 1; until < end; c++) {
      const next = this.hostOffset(c);
      if (host === undefined ? next !== undefined : next !== host + (c - first) * cs) break;
      until = Math.min((c + 1) * cs, end);
    }
    if (host === undefined) return { length: until - offset, zero: true, data: false, allocated: false };
    // Unlike vdi and qed, qemu's parallels reports allocated clusters as data without asking the file for holes.
    return { length: until - offset, zero: false, data: true, allocated: true, offset: host + (offset - first * cs), file: this.file.filename };
  }

  /**
   * The file grown ahead of the data, reading as zeroes. qemu's `falloc` reserves the blocks with
   * fallocate; Node has none, and writing the zeroes would double every write: both modes leave a
   * sparse tail here (which close cuts off again either way).
   */
  private async growFile(size: number): Promise<void> {
    if (!this.file.resize) return; // (storage of a fixed size: the cluster is written at its end as before)
    await this.file.resize(size, { shrink: false });
  }

  /** Closing after writes: the in-use mark cleared, then the file cut after the last cluster (the preallocated tail and any leaked space), as qemu does. */
  async closeForWriting(): Promise<void> {
    await this.setInUse(false);
    if (this.file.resize && this.file.size > this.dataEnd) {
      // qemu ignores a failure here: the image is consistent either way.
      await this.file.resize(this.dataEnd, { shrink: true }).catch(() => undefined);
    }
  }

  /** Mark the image in use (opened read-write) or closed, as qemu does. */
  async setInUse(inUse: boolean): Promise<void> {
    this.header.inUse = inUse ? INUSE_MAGIC : 0;
    await this.file.write(0, encodeHeader(this.header));
    await this.file.flush();
  }

  /**
   * qemu-img check as qemu 7.2's parallels driver does it, with its messages: the in-use mark and
   * BAT entries past the file's end are errors (fixed with `-r all`: the mark cleared at close,
   * the entries cleared), space after the last cluster is leaked (cut off with `-r leaks`/`all`).
   * Unlike qemu, an image with no clusters ends at its data offset: qemu counts the BAT of such an
   * image as leaked whenever it spans more than one cluster.
   */
  async check(repair: CheckRepair): Promise<CheckResult> {
    const fixErrors = repair === 'all';
    const fixLeaks = repair !== 'none';
    const cs = this.clusterSize;
    const unit = entryUnit(this.header);
    // (qemu measures the file in whole sectors.)
    const size = Math.ceil(this.file.size / SECTOR) * SECTOR;
    const messages: string[] = [];
    let corruptions = 0;
    let fixed = 0;
    let allocated = 0;
    let fragmented = 0;
    let previous = 0;
    let end = this.header.dataOffset;
    if (this.header.inUse === INUSE_MAGIC) {
      messages.push(`${fixErrors ? 'Repairing' : 'ERROR'} image was not closed correctly`);
      corruptions++;
      if (fixErrors) fixed++;
    }
    for (let i = 0; i < this.bat.length; i++) {
      const entry = this.bat[i]!;
      const offset = entry * unit;
      if (entry === 0) {
        previous = 0;
        continue;
      }
      if (offset > size) {
        messages.push(`${fixErrors ? 'Repairing' : 'ERROR'} cluster ${i} is outside image`);
        corruptions++;
        if (fixErrors) {
          this.bat[i] = 0;
          await this.file.write(HEADER_BYTES + i * 4, encodeU32(0));
          fixed++;
          previous = 0;
          continue;
        }
      }
      allocated++;
      if (previous !== 0 && previous + cs !== offset) fragmented++;
      previous = offset;
      end = Math.max(end, offset + cs);
    }
    if (fixErrors && this.header.inUse === INUSE_MAGIC) await this.setInUse(false);
    let leaks = 0;
    let leaksFixed = 0;
    if (size > end) {
      leaks = Math.ceil((size - end) / cs);
      messages.push(`${fixLeaks ? 'Repairing' : 'ERROR'} space leaked at the end of the image ${size - end}`);
      if (fixLeaks && this.file.resize) {
        await this.file.resize(end, { shrink: true });
        leaksFixed = leaks;
      }
    }
    this.dataEnd = this.lastClusterEnd();
    return {
      corruptions: corruptions - fixed,
      leaks: leaks - leaksFixed,
      checkErrors: 0,
      corruptionsFixed: fixed,
      leaksFixed,
      imageEndOffset: end,
      totalClusters: this.bat.length,
      allocatedClusters: allocated,
      fragmentedClusters: fragmented,
      messages,
    };
  }

  /** End of the last cluster the BAT uses (the data offset when none). */
  private lastClusterEnd(): number {
    const unit = entryUnit(this.header);
    let end = this.header.dataOffset;
    for (const entry of this.bat) if (entry !== 0) end = Math.max(end, entry * unit + this.clusterSize);
    return end;
  }
}
