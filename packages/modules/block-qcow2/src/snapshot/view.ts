// A snapshot's disk, read-only (qemu's temporarily loaded snapshot: `convert -l`, `measure -l`):
// the image's file, backing file and data file, read through the snapshot's L1 table. As in qemu,
// the disk keeps the image's current size, whatever the snapshot's was: past the snapshot's L1
// table it is unallocated. The view borrows the image: closing it closes nothing.
import type { BlockNode, SnapshotSelector } from '@tessera/core';
import type { Qcow2State } from '../state.ts';
import { readSnapshotL1 } from './find.ts';
import { readSnapshotRecords, type SnapshotRecord } from './table.ts';

export async function snapshotView(image: Qcow2State, selector: SnapshotSelector): Promise<BlockNode> {
  const h = image.header;
  const { records } = await readSnapshotRecords(image.child, h);
  const record = select(records, selector);
  if (!record) throw new Error("Can't find snapshot");
  const l1 = await readSnapshotL1(image, record);
  const header = { ...h, l1Size: l1.length, l1TableOffset: record.l1TableOffset };
  const view = image.readOnlyView(header, l1);
  return {
    driver: view.driver,
    filename: view.filename,
    size: view.size,
    readOnly: true,
    child: image.child,
    ...(image.backing ? { backing: image.backing } : {}),
    read: (offset, into) => view.read(offset, into),
    write: () => Promise.reject(new Error(`${image.filename}: a loaded snapshot is read-only`)),
    flush: async () => {},
    close: async () => {},
    blockStatus: (offset, length) => view.blockStatus(offset, length),
    allocatedSize: () => view.allocatedSize(),
    describe: () => view.describe(),
  };
}

/**
 * qemu's lookup for a temporarily loaded snapshot: by id and name together when both are given,
 * else by the one given; a bare word is an id first, then a name.
 */
function select(records: readonly SnapshotRecord[], selector: SnapshotSelector): SnapshotRecord | undefined {
  if ('idOrName' in selector) {
    return records.find((record) => record.id === selector.idOrName) ?? records.find((record) => record.name === selector.idOrName);
  }
  const { id, name } = selector;
  if (id === undefined && name === undefined) return undefined;
  return records.find((record) => (id === undefined || record.id === id) && (name === undefined || record.name === name));
}
