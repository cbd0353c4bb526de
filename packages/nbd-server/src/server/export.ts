// One exported image and what clients may do with it: the settings of the command line applied to
// every request (read-only, discard, detect-zeroes), with qemu-nbd's errno for each refusal.
import { writeZeroes, type BlockNode } from '@tessera/core';
import { allocationRuns, type AllocationRun } from './allocation.ts';
import type { DirtyBitmapStatus } from './dirty-bitmap.ts';
import {
  FLAG_CAN_MULTI_CONN,
  FLAG_HAS_FLAGS,
  FLAG_READ_ONLY,
  FLAG_SEND_CACHE,
  FLAG_SEND_DF,
  FLAG_SEND_FAST_ZERO,
  FLAG_SEND_FLUSH,
  FLAG_SEND_FUA,
  FLAG_SEND_TRIM,
  FLAG_SEND_WRITE_ZEROES,
  NBD_ENOTSUP,
  NBD_EPERM,
  STATE_HOLE,
  STATE_ZERO,
} from './protocol.ts';

export type DiscardMode = 'ignore' | 'unmap';
export type DetectZeroes = 'off' | 'on' | 'unmap';

export interface ExportSettings {
  readonly name: string;
  readonly description: string | undefined;
  readonly readOnly: boolean;
  readonly discard: DiscardMode;
  readonly detectZeroes: DetectZeroes;
  /** `-A`: the qemu:allocation-depth context is offered. */
  readonly allocationDepth: boolean;
  /** `-B NAME`: the qemu:dirty-bitmap:NAME context is offered. */
  readonly dirtyBitmap?: DirtyBitmapStatus;
}

/** A request the export refuses: the errno the reply carries. */
export class RequestError extends Error {
  constructor(
    readonly errno: number,
    message: string,
  ) {
    super(message);
    this.name = 'RequestError';
  }
}

/** The meta contexts an export may offer, by name. */
export const BASE_ALLOCATION = 'base:allocation';
export const ALLOCATION_DEPTH = 'qemu:allocation-depth';

/** base:allocation's flags for a run: a hole where no data is stored, zero where it reads as zeroes. */
export const allocationFlags = (run: AllocationRun): number => (run.data ? 0 : STATE_HOLE) | (run.zero ? STATE_ZERO : 0);
/** qemu:allocation-depth's value: which layer holds the run (0: none). */
export const allocationDepth = (run: AllocationRun): number => run.depth;

export class NbdExport {
  constructor(
    readonly node: BlockNode,
    readonly settings: ExportSettings,
  ) {}

  get size(): number {
    return this.node.size;
  }

  /** Meta contexts this export offers. */
  get contexts(): readonly string[] {
    return [BASE_ALLOCATION, ...(this.settings.allocationDepth ? [ALLOCATION_DEPTH] : []), ...(this.settings.dirtyBitmap ? [this.settings.dirtyBitmap.context] : [])];
  }

  /** Transmission flags, as qemu-nbd's: multi-conn only read-only, DF once structured replies are on. */
  transmissionFlags(structured: boolean): number {
    let flags = FLAG_HAS_FLAGS | FLAG_SEND_FLUSH | FLAG_SEND_FUA | FLAG_SEND_CACHE;
    if (this.settings.readOnly) flags |= FLAG_READ_ONLY | FLAG_CAN_MULTI_CONN;
    else flags |= FLAG_SEND_TRIM | FLAG_SEND_WRITE_ZEROES | FLAG_SEND_FAST_ZERO;
    if (structured) flags |= FLAG_SEND_DF;
    return flags;
  }

  async read(offset: number, into: Uint8Array): Promise<void> {
    await this.node.read(offset, into);
  }

  async write(offset: number, data: Uint8Array, fua: boolean): Promise<void> {
    this.writable();
    const detect = this.settings.detectZeroes;
    if (detect !== 'off' && isAllZero(data)) {
      await writeZeroes(this.node, offset, data.length, { mayUnmap: detect === 'unmap' });
    } else {
      await this.node.write(offset, data);
    }
    this.written();
    if (fua) await this.node.flush();
  }

  /** WRITE_ZEROES: `noHole` keeps the range allocated; `fast` fails at once where zeroing means writing zeroes. */
  async writeZeroes(offset: number, length: number, options: { noHole: boolean; fast: boolean; fua: boolean }): Promise<void> {
    this.writable();
    if (options.fast && !this.node.writeZeroes) throw new RequestError(NBD_ENOTSUP, 'zeroing would write zeroes');
    await writeZeroes(this.node, offset, length, { mayUnmap: !options.noHole && this.settings.discard === 'unmap' });
    this.written();
    if (options.fua) await this.node.flush();
  }

  /**
   * TRIM: advisory. With `--discard=unmap` the range is given back where the image can (it reads
   * as zeroes afterwards); with `ignore` (qemu-nbd's default) nothing happens.
   */
  async trim(offset: number, length: number, fua: boolean): Promise<void> {
    this.writable();
    if (this.settings.discard === 'unmap' && this.node.writeZeroes) {
      await this.node.writeZeroes(offset, length, { mayUnmap: true });
      this.written();
    }
    if (fua) await this.node.flush();
  }

  async flush(): Promise<void> {
    if (!this.settings.readOnly) await this.node.flush();
  }

  /** Status runs of a context for [offset, offset + length). */
  status(context: string, offset: number, length: number, maxRuns: number): Promise<Array<{ length: number; flags: number }>> {
    const bitmap = this.settings.dirtyBitmap;
    if (bitmap && context === bitmap.context) return bitmap.runs(offset, length, maxRuns);
    return allocationRuns(this.node, offset, length, context === ALLOCATION_DEPTH ? allocationDepth : allocationFlags, maxRuns);
  }

  private writable(): void {
    if (this.settings.readOnly) throw new RequestError(NBD_EPERM, 'the export is read-only');
  }

  /** After a change: the bitmap offered (an enabled one records writes) is read again. */
  private written(): void {
    this.settings.dirtyBitmap?.changed();
  }
}

function isAllZero(data: Uint8Array): boolean {
  // Eight bytes at a time where the buffer allows it.
  const whole = data.byteOffset % 8 === 0 ? data.length >> 3 : 0;
  if (whole > 0) {
    const words = new BigUint64Array(data.buffer, data.byteOffset, whole);
    for (let i = 0; i < whole; i++) if (words[i] !== 0n) return false;
  }
  for (let i = whole << 3; i < data.length; i++) if (data[i] !== 0) return false;
  return true;
}
