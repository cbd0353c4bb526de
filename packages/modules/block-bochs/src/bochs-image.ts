import type { BlockNode } from '@tessera/core';
import type { BochsHeader } from './header.ts';
import { codedError } from '@tessera/module-kit/coded-error';

const SECTOR = 512;
const UNALLOCATED = 0xffffffff;

/**
 * A growing Bochs image's guest sectors: each is in an allocated extent whose bitmap has its bit
 * set, or reads as zeroes (as Bochs and qemu read it).
 */
export class BochsImage {
  private constructor(
    private readonly file: BlockNode,
    private readonly header: BochsHeader,
    private readonly catalog: Uint32Array,
  ) {}

  static async open(file: BlockNode, header: BochsHeader): Promise<BochsImage> {
    const raw = new Uint8Array(header.catalogEntries * 4);
    await file.read(header.catalogOffset, raw);
    const view = new DataView(raw.buffer);
    const catalog = new Uint32Array(header.catalogEntries);
    for (let i = 0; i < catalog.length; i++) catalog[i] = view.getUint32(i * 4, true);
    return new BochsImage(file, header, catalog);
  }

  /** The extent last read's bitmap, so a run of sectors reads it once. */
  private bitmap: { readonly extent: number; readonly bits: Uint8Array } | undefined;

  /** Where a guest sector's bytes are in the file, or undefined when it reads as zeroes. */
  private async sectorOffset(sector: number): Promise<number | undefined> {
    const { extentSize, catalogOffset, catalogEntries, bitmapSectors, extentSectors } = this.header;
    const sectorsPerExtent = extentSize / SECTOR;
    const extent = Math.floor(sector / sectorsPerExtent);
    const inExtent = sector % sectorsPerExtent;
    const block = this.catalog[extent];
    if (block === undefined || block === UNALLOCATED) return undefined;
    const dataStart = catalogOffset + catalogEntries * 4;
    const blockOffset = dataStart + SECTOR * block * (bitmapSectors + extentSectors);
    if (this.bitmap?.extent !== extent) {
      // Only the bits of the extent's own sectors: a forged bitmap size does not make us read more.
      const bits = new Uint8Array(Math.ceil(sectorsPerExtent / 8));
      await this.readFile(blockOffset, bits);
      this.bitmap = { extent, bits };
    }
    if (((this.bitmap.bits[inExtent >> 3]! >> (inExtent & 7)) & 1) === 0) return undefined;
    return blockOffset + SECTOR * (bitmapSectors + inExtent);
  }

  /** Fill `into` with the guest bytes at `offset`: runs of sectors contiguous in the file are read at once. */
  async read(offset: number, into: Uint8Array): Promise<void> {
    let done = 0;
    while (done < into.length) {
      const at = offset + done;
      const within = at % SECTOR;
      const first = await this.sectorOffset(Math.floor(at / SECTOR));
      let length = Math.min(SECTOR - within, into.length - done);
      // Extend the run while the next sector is zero too, or follows in the file.
      while (done + length < into.length) {
        const next = await this.sectorOffset(Math.floor((at + length) / SECTOR));
        const follows = first === undefined ? next === undefined : next === first + within + length;
        if (!follows) break;
        length += Math.min(SECTOR, into.length - done - length);
      }
      if (first === undefined) into.fill(0, done, done + length);
      else await this.readFile(first + within, into.subarray(done, done + length));
      done += length;
    }
  }

  /** Read from the file; a block past its end is a corrupt catalog, said so. */
  private async readFile(offset: number, into: Uint8Array): Promise<void> {
    if (offset + into.length > this.file.size) {
      throw codedError(`Could not read '${this.file.filename}': the catalog points past the end of the file (offset ${offset})`, 'corrupt-image');
    }
    await this.file.read(offset, into);
  }
}
