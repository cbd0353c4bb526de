import type { BlockNode, BlockOpenOptions, BlockProtocolDriver } from '@tessera/core';
import { EEXIST, errnoText, rbdError } from './errors.ts';
import { callAsync, librbd } from './ffi/librbd.ts';
import { RBD_OPTION_NAMES, parseRbdLocation } from './rbd-location.ts';
import { RbdNode } from './rbd-node.ts';
import { connect } from './rbd-session.ts';

/** Ceph RBD images (QEMU's rbd driver): `rbd:pool[/namespace]/image[@snapshot][:key=value…]`. */
export const rbdProtocol: BlockProtocolDriver = {
  name: 'rbd',
  schemes: ['rbd'],
  options: RBD_OPTION_NAMES,
  addressedByOptions: true,
  open: openRbdImage,
  create: createRbdImage,
};

async function openRbdImage(location: string, { readOnly, driverOptions }: BlockOpenOptions): Promise<BlockNode> {
  const target = parseRbdLocation(location, driverOptions);
  // qemu's words: a snapshot is never opened for writing.
  if (target.snapshot !== undefined && !readOnly) throw rbdError(`${target.failurePrefix}rbd snapshots are read-only`, 'EPERM');
  const session = await connect(target);
  try {
    return await RbdNode.open(session, target, readOnly);
  } catch (error) {
    await session.end();
    throw error;
  }
}

/** A new image of `size` bytes (object size and features from the cluster's defaults); an existing one is refused, as qemu-img does. */
async function createRbdImage(location: string, size: number): Promise<void> {
  const target = parseRbdLocation(location);
  const session = await connect(target);
  try {
    const result = await callAsync(librbd().rbd_create, session.ioctx, target.image, size, [0]);
    // qemu-img's words.
    if (result < 0) throw rbdError(`error rbd create: ${errnoText(result)}`, result === EEXIST ? 'invalid-option' : 'rbd-io');
  } finally {
    await session.end();
  }
}
