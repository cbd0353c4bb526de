import type { NetBackend, NetPort } from '@tessera/core';
import { joinMulticastGroup } from './multicast-transport.ts';
import { reportOnStderr, type Report } from './report.ts';
import { parseSocketOptions, SOCKET_OPTION_NAMES } from './socket-options.ts';
import { connectToPeer, listenForPeer } from './tcp-transport.ts';
import { openUdpLink } from './udp-transport.ts';

/** Open the port the options describe; `report` hears what happens after open() resolves. */
export async function openSocketNetdev(options: Readonly<Record<string, string>>, report: Report = reportOnStderr): Promise<NetPort> {
  const config = parseSocketOptions(options);
  switch (config.mode) {
    case 'listen':
      return listenForPeer(config.address, report);
    case 'connect':
      return connectToPeer(config.address, report);
    case 'mcast':
      return joinMulticastGroup(config.group, config.port, config.localAddress, report);
    case 'udp':
      return openUdpLink(config.remote, config.local, report);
  }
}

/** `-netdev socket,id=…,listen=|connect=|mcast=|udp=…`: Ethernet frames between emulators, as QEMU's. */
export const socketNetdev: NetBackend = {
  name: 'socket',
  options: SOCKET_OPTION_NAMES,
  open: (options) => openSocketNetdev(options),
};
