import { connect, type NetConnectOpts, type Socket } from 'node:net';
import { WireReader } from './wire-reader.ts';

/** Where a connection is: connecting (no TCP connection yet), in its handshake, or open (the handshake done). */
export type ConnectionPhase = 'connecting' | 'handshake' | 'open';

export interface DeadlineConnectOptions<T> {
  /** Where to connect: a TCP host and port (`noDelay` as the protocol wants) or a Unix socket path. */
  readonly address: NetConnectOpts;
  /** Connect and complete the handshake within this many ms, or fail with `deadlineMissed`. */
  readonly deadlineMs: number;
  /** Why reads fail once the peer closes the connection (when no error or deadline said more). */
  closed(phase: ConnectionPhase): Error;
  /** The socket failed; `error` is Node's (see socketErrorWords for qemu's words). */
  socketFailed(error: NodeJS.ErrnoException, phase: ConnectionPhase): Error;
  /** The deadline passed before the handshake completed. */
  deadlineMissed(phase: 'connecting' | 'handshake'): Error;
  /**
   * The socket reads straight into the buffers of `reader.readInto` (WireReader's `onread` mode):
   * for protocols whose bulk data arrives that way. A TLS socket made over it later reads by itself.
   */
  readonly directReads?: boolean;
  /** The protocol's handshake over the connected socket; what it returns is the open connection. */
  handshake(socket: Socket, reader: WireReader): Promise<T>;
}

/**
 * Connect and run the protocol's handshake, all within one deadline: a peer that accepts and then
 * stays silent fails here, not never. The first reason the connection ends (a socket error, the
 * deadline, the peer closing) is what every pending and later read fails with, for the life of the
 * connection. On failure the socket is destroyed and the error is thrown as the callbacks made it
 * (or as the handshake threw it); the caller adds what its open's error says around it.
 */
export async function connectWithDeadline<T>(options: DeadlineConnectOptions<T>): Promise<T> {
  let phase: ConnectionPhase = 'connecting';
  let ended: Error | undefined;
  const reader = new WireReader(undefined, () => ended ?? options.closed(phase));
  const direct = options.directReads === true;
  const socket: Socket = connect(direct ? { ...options.address, onread: reader.onread } : options.address);
  reader.listen(socket, direct);
  socket.on('error', (error: NodeJS.ErrnoException) => {
    ended ??= options.socketFailed(error, phase);
    reader.fail(ended);
  });
  socket.once('connect', () => (phase = 'handshake'));
  const timer = setTimeout(() => {
    ended ??= options.deadlineMissed(phase === 'connecting' ? 'connecting' : 'handshake');
    reader.fail(ended);
    socket.destroy();
  }, options.deadlineMs);
  try {
    const connection = await options.handshake(socket, reader);
    phase = 'open';
    return connection;
  } catch (error) {
    socket.destroy();
    throw error;
  } finally {
    clearTimeout(timer);
  }
}
