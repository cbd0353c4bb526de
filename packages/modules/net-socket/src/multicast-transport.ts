import { createSocket } from 'node:dgram';
import { networkInterfaces } from 'node:os';
import type { NetPort } from '@tessera/core';
import { bindSocket, datagramPort } from './datagram-port.ts';
import type { Report } from './report.ts';

/**
 * mcast=group:port[,localaddr=addr]: every port on the group hears every other one's frames, on this
 * host and others (multicast loopback is on, as in QEMU, so several emulators can share a host).
 *
 * QEMU sends and receives on one socket bound to group:port, so it also receives every frame it sent.
 * We do not hand our own frames back to the guest: a NIC does not hear its own transmissions, and
 * echoed frames confuse a guest (duplicate address detection, bridges learning the wrong port). To
 * tell them apart, frames go out from a second socket with a port of its own; datagrams from that
 * address and port are ours. Frames from QEMU peers (sent from group's port) are received as usual.
 */
export async function joinMulticastGroup(group: string, port: number, localAddress: string | undefined, report: Report): Promise<NetPort> {
  const option = `mcast=${group}:${port}`;
  const receiver = createSocket({ type: 'udp4', reuseAddr: true });
  const sender = createSocket({ type: 'udp4' });
  try {
    // Bound to the group address, as QEMU does, so unicast datagrams to the port are not taken for frames.
    await bindSocket(receiver, port, group);
    // No localaddr: the kernel's default multicast interface (the route to the group).
    receiver.addMembership(group, localAddress);
    await bindSocket(sender, 0, localAddress);
    if (localAddress !== undefined) sender.setMulticastInterface(localAddress);
    sender.setMulticastLoopback(true);
  } catch (error) {
    receiver.close();
    sender.close();
    const on = localAddress !== undefined ? ` on ${localAddress}` : '';
    throw new Error(`can't join multicast group ${group}:${port}${on}: ${(error as Error).message}`);
  }
  const own = sender.address();
  const localAddresses = new Set(Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((entry) => entry.address)));
  return datagramPort({
    option,
    sender,
    receiver,
    destination: { host: group, port },
    // Bound to every interface, our datagrams carry whichever local address the route picked.
    isOwn: (source) => source.port === own.port && (source.address === own.address || (own.address === '0.0.0.0' && localAddresses.has(source.address))),
    report,
  });
}
