import { createServer, connect, type Socket } from 'node:net';
import type { NetPort } from '@tessera/core';
import { describeSocketError, type Report } from './report.ts';
import type { HostPort } from './socket-options.ts';
import { CLOSED_BY_PEER, TcpPeerLink } from './tcp-peer-link.ts';

const formatAddress = ({ host, port }: HostPort) => `${host ?? ''}:${port}`;

/**
 * listen=: resolves once listening, without waiting for a peer (QEMU accepts it lazily too). One peer
 * at a time; when it goes, the next connection is accepted. A second peer while one is connected is
 * turned away (QEMU leaves it waiting in the backlog; turning it away tells it at once).
 */
export async function listenForPeer(address: HostPort, report: Report): Promise<NetPort> {
  const option = `listen=${formatAddress(address)}`;
  const link = new TcpPeerLink();
  const server = createServer();
  server.on('connection', (socket: Socket) => {
    if (link.connected) {
      report(`${option}: refused a connection from ${socket.remoteAddress}:${socket.remotePort}: already connected to ${link.peerName}`);
      socket.destroy();
      return;
    }
    const peer = `${socket.remoteAddress}:${socket.remotePort}`;
    // The listen side just waits for the next peer: an ordinary disconnect is not worth a message.
    link.attach(socket, (reason) => {
      if (reason !== CLOSED_BY_PEER) report(`${option}: peer ${peer}: ${reason}; waiting for a new peer`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(new Error(`can't listen on ${formatAddress(address)}: ${describeSocketError(error)}`)),
    );
    // No host: every interface, as QEMU's `listen=:port`.
    server.listen({ port: address.port, host: address.host ?? '0.0.0.0' }, () => resolve());
  });
  server.on('error', (error: NodeJS.ErrnoException) => report(`${option}: ${describeSocketError(error)}`));
  return {
    send: (frame) => link.send(frame),
    onReceive: (listener) => link.listeners.add(listener),
    close: async () => {
      link.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * connect=: resolves once connected, rejects if the peer cannot be reached. A lost connection is
 * reported and not re-made (as QEMU 7.2): from then on sent frames are dropped.
 */
export async function connectToPeer(address: HostPort & { host: string }, report: Report): Promise<NetPort> {
  const option = `connect=${formatAddress(address)}`;
  const socket = await new Promise<Socket>((resolve, reject) => {
    const attempt = connect({ host: address.host, port: address.port });
    attempt.once('error', (error: NodeJS.ErrnoException) =>
      reject(new Error(`can't connect to ${formatAddress(address)}: ${describeSocketError(error)}`)),
    );
    attempt.once('connect', () => {
      attempt.removeAllListeners('error');
      resolve(attempt);
    });
  });
  const link = new TcpPeerLink();
  link.attach(socket, (reason) =>
    report(`${option}: connection lost (${reason}); frames are dropped from now on`),
  );
  return {
    send: (frame) => link.send(frame),
    onReceive: (listener) => link.listeners.add(listener),
    close: async () => {
      link.close();
    },
  };
}
