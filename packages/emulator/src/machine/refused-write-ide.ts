import { V86Disk } from '../disk/v86-disk.ts';
import type { IdeInterface } from './v86-internals.ts';

const STATUS_DRDY_ERR = 0x41;
const ERROR_ABRT = 0x04;
const BMDMA_ACTIVE = 0x01;
const BMDMA_ERROR = 0x02;

const patchedPrototypes = new WeakSet<object>();

/**
 * Let a DMA write that the block layer refuses (EPERM: it would turn a probed raw image's first or
 * last sector into another format's signature) end as a failed command: ERR in the status
 * register, ABRT in the error register, the bus master's error bit, an interrupt. The guest's
 * driver sees an I/O error, as from a real disk, where v86 alone would report success. v86 calls
 * the disk's `set` synchronously inside its DMA write, so the disk is told which write is a DMA
 * one for the length of that call. v86 seals its device objects: the wrapper is on the prototype.
 */
export function failRefusedDmaWrites(drive: IdeInterface): void {
  const prototype = Object.getPrototypeOf(drive) as IdeInterface;
  if (patchedPrototypes.has(prototype)) return;
  patchedPrototypes.add(prototype);
  const write = prototype.do_ata_write_sectors_dma;
  prototype.do_ata_write_sectors_dma = function (this: IdeInterface) {
    const disk = this.buffer;
    if (!(disk instanceof V86Disk)) return write.call(this);
    disk.failNextWrite = () => abortDmaWrite(this);
    try {
      write.call(this);
    } finally {
      disk.failNextWrite = undefined;
    }
  };
}

function abortDmaWrite(ide: IdeInterface): void {
  ide.error_reg = ERROR_ABRT;
  ide.status_reg = STATUS_DRDY_ERR;
  ide.channel.dma_status = (ide.channel.dma_status & ~BMDMA_ACTIVE) | BMDMA_ERROR;
  ide.current_command = -1;
  ide.push_irq();
}
