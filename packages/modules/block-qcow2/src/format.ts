import type { BlockFormatDriver, BlockNode } from '@tessera/core';
import { ClusterMap } from './cluster/mapping.ts';
import { corrupt } from './errors.ts';
import { INCOMPAT_DATA_FILE } from './header/features.ts';
import { parseHeader, QCOW2_MAGIC } from './header/header.ts';
import { Qcow2Image } from './image.ts';

export const qcow2Format: BlockFormatDriver = {
  name: 'qcow2',
  probe(head) {
    if (head.length < 8) return 0;
    const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
    return view.getUint32(0) === QCOW2_MAGIC && view.getUint32(4) >= 2 ? 100 : 0;
  },

  async open(file, { readOnly, openRelative }) {
    if (!readOnly) {
      throw new Error(`Could not open '${file.filename}': writing qcow2 images is not supported yet; open it read-only (readonly=on or snapshot=on)`);
    }
    // The header and its extensions live in the first cluster (at most 2 MiB).
    const head = new Uint8Array(Math.min(file.size, 2 * 2 ** 20));
    await file.read(0, head);
    const header = parseHeader(head, file.size, file.filename);

    const l1Bytes = new Uint8Array(header.l1Size * 8);
    if (l1Bytes.length) await file.read(header.l1TableOffset, l1Bytes);
    const view = new DataView(l1Bytes.buffer);
    const l1 = new BigUint64Array(header.l1Size);
    for (let i = 0; i < header.l1Size; i++) l1[i] = view.getBigUint64(i * 8);

    let dataFile: BlockNode | undefined;
    if (header.incompatible & INCOMPAT_DATA_FILE) {
      const name = header.extensions.dataFile;
      if (name === undefined) throw corrupt(file.filename, 'the external data file bit is set but no data file is named');
      if (!openRelative) throw new Error(`Could not open '${file.filename}': it needs its data file '${name}'`);
      dataFile = await openRelative(name, { readOnly: true, protocolOnly: true });
    }
    let backing: BlockNode | undefined;
    try {
      if (header.backingFile !== undefined) {
        if (!openRelative) throw new Error(`Could not open '${file.filename}': it needs its backing file '${header.backingFile}'`);
        backing = await openRelative(header.backingFile, {
          readOnly: true,
          ...(header.extensions.backingFormat ? { format: header.extensions.backingFormat } : {}),
        });
      }
    } catch (error) {
      await dataFile?.close();
      throw new Error(`Could not open backing file: ${(error as Error).message}`, { cause: error });
    }
    return new Qcow2Image(file, header, new ClusterMap(header, l1, file), backing, dataFile);
  },
};
