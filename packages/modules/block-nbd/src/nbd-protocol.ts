import type { BlockNode, BlockOpenOptions, BlockProtocolDriver } from '@tessera/core';
import { openConnection } from './connect.ts';
import { FLAG_READ_ONLY } from './constants.ts';
import { nbdError } from './errors.ts';
import { NbdNode } from './nbd-node.ts';
import { NBD_OPTION_NAMES, parseNbdOptions } from './nbd-options.ts';
import { nbdTargetFromOptions, parseNbdLocation, type NbdTarget } from './nbd-url.ts';
import { startTls, tlsCredentials } from './tls.ts';

/** NBD exports (QEMU's nbd driver): `nbd://`, `nbd+tcp://`, `nbd+unix://` and the `nbd:` spellings. */
export const nbdProtocol: BlockProtocolDriver = {
  name: 'nbd',
  schemes: ['nbd', 'nbd+tcp', 'nbd+unix'],
  options: NBD_OPTION_NAMES,
  addressedByOptions: true,
  open: openNbdExport,
  create: prepareNbdExport,
};

/** The sector qemu wipes so that probing the export finds no old format. */
const FIRST_SECTOR = 512;

/**
 * `create` on an export, as qemu's generic create for storage that exists already: an export
 * cannot grow (qemu-img's "Cannot grow NBD nodes"); the first sector is zeroed so that no old
 * format's header is probed there.
 */
async function prepareNbdExport(location: string, size: number): Promise<void> {
  const node = await openNbdExport(location, { readOnly: false, driverOptions: {} });
  try {
    if (size > node.size) throw nbdError(`Cannot grow NBD nodes`, 'unsupported-operation');
    await node.writeZeroes!(0, Math.min(FIRST_SECTOR, node.size), { mayUnmap: true });
    await node.flush();
  } finally {
    await node.close();
  }
}

async function openNbdExport(location: string, { readOnly, driverOptions, objects }: BlockOpenOptions): Promise<BlockNode> {
  const filename = location === '' && driverOptions.filename ? driverOptions.filename : location;
  // Without a URL, qemu's structured options (server.type, server.host, …, export) name the export.
  const target = filename === '' ? nbdTargetFromOptions(driverOptions) : parseNbdLocation(filename);
  const shown = filename === '' ? target.canonical : filename;
  const options = parseNbdOptions(shown, driverOptions);
  const credentials = driverOptions['tls-creds'] === undefined ? undefined : tlsCredentials(driverOptions['tls-creds'], objects, tlsHostname(target, driverOptions));
  const connection = await openConnection(target, shown, options.connectTimeoutMs, options.requestTimeoutMs, {
    ...(credentials ? { startTls: (plain) => startTls(plain, credentials) } : {}),
    ...(options.allocationContext ? { allocationContext: options.allocationContext } : {}),
  });
  if (!readOnly && connection.info.transmissionFlags & FLAG_READ_ONLY) {
    await connection.disconnect();
    // qemu-img's words for a read-only export opened for writing.
    throw nbdError(`Could not open '${shown}': Could not open image: Permission denied`, 'EPERM');
  }
  return new NbdNode(connection, target.canonical, readOnly);
}

/** The name the server's certificate must carry: tls-hostname, else the TCP host (qemu checks none over a unix socket). */
function tlsHostname(target: NbdTarget, options: Readonly<Record<string, string>>): string | undefined {
  return options['tls-hostname'] ?? (target.address.kind === 'tcp' ? target.address.host : undefined);
}
