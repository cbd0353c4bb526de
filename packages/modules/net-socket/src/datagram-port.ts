import type { Socket } from 'node:dgram';
import type { NetPort } from '@tessera/core';
import { FrameListeners } from './frame-listeners.ts';
import { describeSocketError, type Report } from './report.ts';

/** The largest UDP payload over IPv4; a longer frame cannot be one datagram and is dropped. */
const MAX_DATAGRAM = 65_507;

export function bindSocket(socket: Socket, port: number, address: string | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind({ port, address }, () => {
      socket.removeListener('error', reject);
      resolve();
    });
  });
}

/**
 * A NetPort over datagram sockets: one frame per datagram, sent to `destination` from `sender`,
 * received on `receiver` except what `isOwn` recognizes as our own datagram coming back.
 */
export function datagramPort(options: {
  readonly option: string;
  readonly sender: Socket;
  readonly receiver: Socket;
  readonly destination: { readonly host: string; readonly port: number };
  readonly isOwn: (source: { address: string; port: number }) => boolean;
  readonly report: Report;
}): NetPort {
  const { option, sender, receiver, destination, isOwn, report } = options;
  const listeners = new FrameListeners();
  // One message per kind of failure: a send error usually repeats for every frame.
  const reported = new Set<string>();
  const reportOnce = (error: NodeJS.ErrnoException) => {
    const key = error.code ?? error.message;
    if (reported.has(key)) return;
    reported.add(key);
    report(`${option}: ${describeSocketError(error)}`);
  };
  receiver.on('message', (datagram, source) => {
    if (datagram.length === 0 || isOwn(source)) return;
    listeners.deliver(new Uint8Array(datagram)); // a copy: the listener may keep it
  });
  for (const socket of new Set([sender, receiver])) socket.on('error', reportOnce);
  let closed = false;
  return {
    send(frame) {
      if (closed || frame.length > MAX_DATAGRAM) return;
      sender.send(frame, destination.port, destination.host, (error) => error && reportOnce(error));
    },
    onReceive: (listener) => listeners.add(listener),
    async close() {
      if (closed) return;
      closed = true;
      await Promise.all([...new Set([sender, receiver])].map((socket) => new Promise<void>((resolve) => socket.close(() => resolve()))));
    },
  };
}
