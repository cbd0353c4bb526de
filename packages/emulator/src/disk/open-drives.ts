import type { BlockNode, BlockPermissions, Host } from '@tessera/core';
import type { DriveConfig } from '../machine/config.ts';
import { StartupError } from '../machine/startup-error.ts';
import { floppyInsertSize } from '../machine-options/floppy.ts';
import { V86Disk } from './v86-disk.ts';

/**
 * Image locks as qemu-system's disk devices take them (share-rw=off): a guest's disk is written by
 * no one else; a read-only one (the CD-ROM) is neither written nor resized under the guest. The
 * same file given twice conflicts with itself, so it is refused before the guest runs.
 */
const WRITABLE_DEVICE: BlockPermissions = { use: ['consistent read', 'write'], unshare: ['write'] };
export const READ_ONLY_DEVICE: BlockPermissions = { use: ['consistent read'], unshare: ['write', 'resize'] };

/** v86's IDE slots: primary master and slave are hard disks, secondary master the CD-ROM. */
export type IdeSlot = 'hda' | 'hdb' | 'cdrom' | 'fda' | 'fdb';

export interface OpenDrive {
  readonly config: DriveConfig;
  readonly slot: IdeSlot;
  readonly node: BlockNode;
  readonly disk: V86Disk;
}

/** Which v86 slot an IDE index maps to; v86 has no secondary slave and no hard disk on the secondary channel. */
function slotOf(drive: DriveConfig): IdeSlot {
  if (drive.interface === 'floppy') return drive.index === 0 ? 'fda' : 'fdb';
  if (drive.media === 'cdrom') {
    if (drive.index !== 2) throw new StartupError(`${drive.origin}: the CD-ROM can only be index=2 (secondary master) on this machine`);
    return 'cdrom';
  }
  if (drive.index === 0) return 'hda';
  if (drive.index === 1) return 'hdb';
  throw new StartupError(`${drive.origin}: hard disks can only be index=0 or index=1 (primary channel) on this machine`);
}

/**
 * Open every drive through the block layer (the image tool's drivers: file, raw, http(s) via a
 * loadable module). On failure the drives opened so far are closed again.
 */
export async function openDrives(host: Host, drives: readonly DriveConfig[], onIoError: (error: Error) => void): Promise<OpenDrive[]> {
  const slots = drives.map(slotOf);
  if (slots.includes('fdb') && !slots.includes('fda')) {
    throw new StartupError(`${drives[slots.indexOf('fdb')]!.origin}: a second floppy drive (B:) needs a first one (A:) on this machine`);
  }
  if (slots.includes('hdb') && !slots.includes('hda')) {
    throw new StartupError(`${drives[slots.indexOf('hdb')]!.origin}: a second hard disk (index=1) needs a first one (index=0) on this machine`);
  }
  const opened: OpenDrive[] = [];
  try {
    for (const [i, config] of drives.entries()) {
      let node: BlockNode;
      try {
        node = await host.block.open(config.file, {
          ...(config.format !== undefined ? { format: config.format } : {}),
          readOnly: config.readOnly,
          permissions: config.readOnly ? READ_ONLY_DEVICE : WRITABLE_DEVICE,
          snapshot: config.snapshot,
          fileOptions: config.fileOptions,
          ...(config.formatOptions ? { formatOptions: config.formatOptions } : {}),
        });
      } catch (error) {
        throw new StartupError(`${config.origin}: ${(error as Error).message}`, { cause: error });
      }
      let refusalsTold = false;
      const disk = new V86Disk(
        node,
        (error) => onIoError(new Error(`${config.origin}: ${error.message}`, { cause: error })),
        (error) => {
          // Once per drive: a guest retrying its write must not flood the terminal.
          if (refusalsTold) return;
          refusalsTold = true;
          process.stderr.write(`warning: ${config.origin}: guest write refused (further refusals on this drive are not reported): ${error.message}\n`);
        },
      );
      // A floppy of no standard size gets QEMU's geometry (given back its real size once inserted).
      if (config.interface === 'floppy') disk.byteLength = floppyInsertSize(node.size);
      opened.push({ config, slot: slots[i]!, node, disk });
    }
  } catch (error) {
    await closeDrives(opened);
    throw error;
  }
  return opened;
}

/** Let pending guest writes land, flush and close. */
export async function closeDrives(drives: readonly OpenDrive[]): Promise<void> {
  for (const drive of drives) {
    try {
      await drive.disk.drain();
      if (!drive.node.readOnly) await drive.node.flush();
    } finally {
      await drive.node.close();
    }
  }
}
