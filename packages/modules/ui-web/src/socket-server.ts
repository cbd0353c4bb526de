// The one place that touches `ws`, with the small typed surface the display uses (the workspace has
// no @types/ws; these interfaces describe ws 8's API as far as we call it).
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
// @ts-ignore -- no type declarations for ws here; typed by the interfaces below.
import { WebSocketServer } from 'ws';

export interface PageSocket {
  readonly readyState: number;
  /** Bytes queued but not yet written: how far behind a slow page is. */
  readonly bufferedAmount: number;
  send(data: string | Buffer): void;
  close(code?: number, reason?: string): void;
  terminate(): void;
  on(event: 'message', listener: (data: Buffer, isBinary: boolean) => void): this;
  on(event: 'close', listener: () => void): this;
  on(event: 'error', listener: (error: Error) => void): this;
}

export interface SocketServer {
  readonly clients: Set<PageSocket>;
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer, done: (socket: PageSocket) => void): void;
  close(done?: () => void): void;
}

export const OPEN = 1;

export function createSocketServer(): SocketServer {
  // Pages send only small key and serial events; frames are raw RGBA that deflate would only slow down.
  return new WebSocketServer({ noServer: true, maxPayload: 256 * 1024, perMessageDeflate: false }) as SocketServer;
}
