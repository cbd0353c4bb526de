import type { BlockNode, BlockOpenOptions, BlockProtocolDriver } from '@tessera/core';
import { iscsiError } from './errors.ts';
import { IscsiNode } from './iscsi-node.ts';
import { ISCSI_OPTION_NAMES, parseIscsiOptions } from './iscsi-options.ts';
import { iscsiLocationFromOptions, parseIscsiUrl } from './iscsi-url.ts';

/** iSCSI LUNs (QEMU's iscsi driver): `iscsi://[user[%password]@]host[:port]/target-iqn/lun`. */
export const iscsiProtocol: BlockProtocolDriver = {
  name: 'iscsi',
  schemes: ['iscsi'],
  options: ISCSI_OPTION_NAMES,
  addressedByOptions: true,
  open: openIscsiLun,
  create: prepareIscsiLun,
};

/** The sector qemu wipes so that probing the LUN finds no old format. */
const FIRST_SECTOR = 512;

/** `create` on a LUN, as qemu's generic create: a LUN cannot grow; its first sector is zeroed. */
async function prepareIscsiLun(location: string, size: number): Promise<void> {
  const node = await openIscsiLun(location, { readOnly: false, driverOptions: {} });
  try {
    if (size > node.size) throw iscsiError(`${node.filename}: Cannot grow this device (${node.size} bytes) to ${size} bytes`, 'unsupported-operation');
    const first = Math.min(Math.max(FIRST_SECTOR, 0), node.size);
    const zero = new Uint8Array(first);
    await node.write(0, zero);
    await node.flush();
  } finally {
    await node.close();
  }
}

async function openIscsiLun(location: string, { readOnly, driverOptions, secrets }: BlockOpenOptions): Promise<BlockNode> {
  const filename = location === '' && driverOptions.filename ? driverOptions.filename : location;
  // Named by qemu's structured options (transport, portal, target, lun) when there is no URL.
  const target = filename === '' ? iscsiLocationFromOptions(driverOptions) : parseIscsiUrl(filename);
  const options = parseIscsiOptions(target.given, driverOptions, target, secrets);
  return IscsiNode.open(target, options, readOnly, driverOptions);
}
