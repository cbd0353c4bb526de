import type { IdeInterface } from './v86-internals.ts';

/** ATA commands that write to the medium: WRITE SECTORS (EXT), WRITE MULTIPLE (EXT), WRITE DMA (EXT), … */
const WRITE_COMMANDS = new Set([0x30, 0x31, 0x34, 0x35, 0x39, 0x3a, 0x3b, 0x3c, 0x3d, 0x3e, 0xc5, 0xca, 0xcb, 0xce]);

/**
 * Make an IDE hard disk refuse writes the way a write-protected disk does: the command ends at
 * once with ERR in the status register and ABRT in the error register, which the guest's ATA
 * driver reports as an I/O error. v86 has no read-only flag for hard disks (it would silently
 * drop or apply the writes), so its command dispatch is wrapped for this one interface.
 */
export function refuseWrites(drive: IdeInterface): void {
  const dispatch = drive.ata_command.bind(drive);
  drive.ata_command = (command: number) => {
    if (!WRITE_COMMANDS.has(command)) return dispatch(command);
    drive.current_command = command;
    drive.ata_abort_command();
  };
}
