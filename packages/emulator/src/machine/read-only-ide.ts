import type { IdeInterface } from './v86-internals.ts';

/** ATA commands that write to the medium: WRITE SECTORS (EXT), WRITE MULTIPLE (EXT), WRITE DMA (EXT), … */
const WRITE_COMMANDS = new Set([0x30, 0x31, 0x34, 0x35, 0x39, 0x3a, 0x3b, 0x3c, 0x3d, 0x3e, 0xc5, 0xca, 0xcb, 0xce]);

/** The interfaces that refuse writes, per v86 IDE prototype patched. */
const readOnlyDrives = new WeakSet<IdeInterface>();
const patchedPrototypes = new WeakSet<object>();

/**
 * Make an IDE hard disk refuse writes the way a write-protected disk does: the command ends at
 * once with ERR in the status register and ABRT in the error register, which the guest's ATA
 * driver reports as an I/O error. v86 has no read-only flag for hard disks (it would apply the
 * writes), so its command dispatch is wrapped. v86 seals its device objects: the wrapper goes on
 * the shared prototype and acts only for the drives registered here.
 */
export function refuseWrites(drive: IdeInterface): void {
  readOnlyDrives.add(drive);
  const prototype = Object.getPrototypeOf(drive) as IdeInterface;
  if (patchedPrototypes.has(prototype)) return;
  patchedPrototypes.add(prototype);
  const dispatch = prototype.ata_command;
  prototype.ata_command = function (this: IdeInterface, command: number) {
    if (!readOnlyDrives.has(this) || !WRITE_COMMANDS.has(command)) return dispatch.call(this, command);
    this.ata_abort_command();
    // No command in progress: a DMA engine started next by the driver must find nothing to write.
    this.current_command = -1;
  };
}
