import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { BlockNode, BlockStatus } from './types.ts';

const SECTOR = 512;

/**
 * `snapshot=on`: the image is opened read-only and every write lands in a temporary file instead,
 * which is deleted at once (it lives only as an open handle) and so vanishes at exit, even a crash.
 * A bitmap of 512-byte sectors says which bytes come from the overlay.
 */
export async function openSnapshotOverlay(base: BlockNode): Promise<BlockNode> {
  // Imported here: loading node:fs/promises costs every start about 3 ms, and few runs get here.
  const { mkdtemp, open, rm } = await import('node:fs/promises');
  // node:os too: loading it costs every start about 0.3 ms.
  const dir = await mkdtemp(join(process.getBuiltinModule('node:os').tmpdir(), 'tessera-snapshot-'));
  const path = join(dir, 'overlay');
  const handle = await open(path, 'w+');
  await rm(dir, { recursive: true });
  return new SnapshotOverlay(base, handle);
}

class SnapshotOverlay implements BlockNode {
  readonly readOnly = false;
  private readonly written: Uint8Array;

  constructor(
    readonly child: BlockNode,
    private readonly overlay: FileHandle,
  ) {
    this.written = new Uint8Array(Math.ceil(child.size / SECTOR / 8));
  }

  get driver(): string {
    return this.child.driver;
  }
  get filename(): string {
    return this.child.filename;
  }
  get size(): number {
    return this.child.size;
  }

  async read(offset: number, into: Uint8Array): Promise<void> {
    this.checkRange(offset, into.length);
    // Split into runs of sectors that all come from the same place.
    let done = 0;
    while (done < into.length) {
      const position = offset + done;
      const fromOverlay = this.isWritten(Math.floor(position / SECTOR));
      let end = (Math.floor(position / SECTOR) + 1) * SECTOR;
      while (end < offset + into.length && this.isWritten(end / SECTOR) === fromOverlay) end += SECTOR;
      const length = Math.min(end, offset + into.length) - position;
      const part = into.subarray(done, done + length);
      if (fromOverlay) await this.readOverlay(position, part);
      else await this.child.read(position, part);
      done += length;
    }
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    this.checkRange(offset, data.length);
    const first = Math.floor(offset / SECTOR);
    const last = Math.floor((offset + data.length - 1) / SECTOR);
    // Partial edge sectors not yet in the overlay are first filled from the image.
    for (const sector of new Set([first, last])) {
      const start = sector * SECTOR;
      const covered = offset <= start && offset + data.length >= Math.min(start + SECTOR, this.size);
      if (!covered && !this.isWritten(sector)) {
        const whole = new Uint8Array(Math.min(SECTOR, this.size - start));
        await this.child.read(start, whole);
        await this.writeOverlay(start, whole);
      }
    }
    await this.writeOverlay(offset, data);
    for (let sector = first; sector <= last; sector++) this.written[sector >> 3]! |= 1 << (sector & 7);
  }

  async flush(): Promise<void> {
    // The overlay is thrown away at exit: nothing to make durable.
  }

  async close(): Promise<void> {
    await this.overlay.close();
    await this.child.close();
  }

  async blockStatus(offset: number, length: number): Promise<BlockStatus> {
    return { length: Math.min(length, this.size - offset), zero: false, data: true };
  }

  private isWritten(sector: number): boolean {
    return (this.written[sector >> 3]! & (1 << (sector & 7))) !== 0;
  }

  private checkRange(offset: number, length: number): void {
    if (offset < 0 || offset + length > this.size) {
      throw new Error(`${this.filename}: access of ${length} bytes at ${offset} is beyond the end (${this.size})`);
    }
  }

  private async readOverlay(position: number, into: Uint8Array): Promise<void> {
    let done = 0;
    while (done < into.length) {
      const { bytesRead } = await this.overlay.read(into, done, into.length - done, position + done);
      if (bytesRead === 0) throw new Error(`${this.filename}: snapshot overlay is short at ${position + done}`);
      done += bytesRead;
    }
  }

  private async writeOverlay(position: number, data: Uint8Array): Promise<void> {
    let done = 0;
    while (done < data.length) {
      const { bytesWritten } = await this.overlay.write(data, done, data.length - done, position + done);
      done += bytesWritten;
    }
  }
}
