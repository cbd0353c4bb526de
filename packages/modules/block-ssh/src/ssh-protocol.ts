import type { BlockNode, BlockOpenOptions, BlockProtocolDriver } from '@tessera/core';
import { openSession } from './connect.ts';
import { SSH_OPTION_NAMES, parseSshTarget } from './ssh-options.ts';
import { SshNode } from './ssh-node.ts';

/** Images over SFTP (QEMU's ssh driver): `ssh://[user@]host[:port]/path[?host_key_check=…]`. */
export const sshProtocol: BlockProtocolDriver = {
  name: 'ssh',
  schemes: ['ssh'],
  options: SSH_OPTION_NAMES,
  // `driver=ssh,server.host=…,server.port=…,path=…` names a file without a URL.
  addressedByOptions: true,
  open: openSshFile,
  create: createSshFile,
};

async function openSshFile(location: string, { readOnly, driverOptions }: BlockOpenOptions): Promise<BlockNode> {
  const target = parseSshTarget(location, driverOptions);
  const session = await openSession(target);
  try {
    return await SshNode.open(session, target, readOnly, false);
  } catch (error) {
    session.client.destroy();
    throw error;
  }
}

/** As qemu's ssh driver: create (or truncate) the remote file and give it the size asked. */
async function createSshFile(location: string, size: number): Promise<void> {
  const target = parseSshTarget(location, {});
  const session = await openSession(target);
  let node: SshNode | undefined;
  try {
    node = await SshNode.open(session, target, false, true);
    await node.truncate(size);
    await node.flush();
  } finally {
    if (node) await node.close();
    else session.client.destroy();
  }
}
