import type { Socket } from 'node:net';
import { FrameListeners } from './frame-listeners.ts';
import { describeSocketError } from './report.ts';
import { encodeFrame, FrameReader, FramingError } from './tcp-framing.ts';

/**
 * A peer that stops reading would make our writes pile up in memory; past this many queued bytes
 * frames are dropped instead, as a full NIC queue drops them (the guest's TCP retransmits).
 */
const MAX_QUEUED_BYTES = 4 * 1024 * 1024;

/** The reason onLost hears when the peer simply closed its end. */
export const CLOSED_BY_PEER = 'closed by the peer';

/** The one TCP connection a listen= or connect= port carries frames over, while there is one. */
export class TcpPeerLink {
  readonly listeners = new FrameListeners();
  private peer: Socket | undefined;

  get connected(): boolean {
    return this.peer !== undefined;
  }

  get peerName(): string {
    return this.peer ? `${this.peer.remoteAddress}:${this.peer.remotePort}` : 'none';
  }

  /** Carry frames over `socket` until it closes; `onLost` then hears why (unless we closed it). */
  attach(socket: Socket, onLost: (reason: string) => void): void {
    this.peer = socket;
    socket.setNoDelay(true); // frames are latency-sensitive and already whole
    let reason = CLOSED_BY_PEER;
    const reader = new FrameReader((frame) => this.listeners.deliver(frame));
    socket.on('data', (chunk: Buffer) => {
      try {
        reader.push(chunk);
      } catch (error) {
        if (!(error instanceof FramingError)) throw error;
        reason = `${error.message}, connection terminated`;
        socket.destroy();
      }
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      reason = describeSocketError(error);
    });
    socket.on('close', () => {
      if (this.peer !== socket) return; // detached by close()
      this.peer = undefined;
      onLost(reason);
    });
  }

  /** Frames sent with no peer connected are dropped, as on an unplugged cable. */
  send(frame: Uint8Array): void {
    const peer = this.peer;
    if (!peer || !peer.writable || peer.writableLength > MAX_QUEUED_BYTES) return;
    peer.write(encodeFrame(frame));
  }

  /** Drop the connection without telling onLost. */
  close(): void {
    const peer = this.peer;
    this.peer = undefined;
    peer?.destroy();
  }
}
