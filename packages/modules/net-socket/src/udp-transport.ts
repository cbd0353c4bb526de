import { createSocket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import type { NetPort } from '@tessera/core';
import { bindSocket, datagramPort } from './datagram-port.ts';
import type { Report } from './report.ts';
import type { HostPort } from './socket-options.ts';

/**
 * udp=remote:port,localaddr=local:port: a point-to-point link over unicast UDP. As in QEMU, frames go
 * to the remote address, and every datagram arriving on the local port is taken for a frame.
 */
export async function openUdpLink(remote: HostPort & { host: string }, local: HostPort, report: Report): Promise<NetPort> {
  const option = `udp=${remote.host}:${remote.port}`;
  const socket = createSocket({ type: 'udp4' });
  let destination: string;
  try {
    destination = (await lookup(remote.host, { family: 4 })).address;
    await bindSocket(socket, local.port, local.host);
  } catch (error) {
    socket.close();
    throw new Error(`${option},localaddr=${local.host ?? ''}:${local.port}: ${(error as Error).message}`);
  }
  return datagramPort({ option, sender: socket, receiver: socket, destination: { host: destination, port: remote.port }, isOwn: () => false, report });
}
