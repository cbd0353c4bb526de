import type { NetPort } from '@tessera/core';
import { connect, type Socket } from 'node:net';
import { openSocketNetdev } from '../../src/socket-netdev.ts';

export { freePort } from '../../../../../tools/test-support/server-process.ts';

/** Opened ports and what they received and reported, closed by closeAll() after each test. */
export class PortSet {
  private readonly opened: NetPort[] = [];

  async open(options: Record<string, string>): Promise<TestPort> {
    const messages: string[] = [];
    const port = await openSocketNetdev(options, (message) => messages.push(message));
    this.opened.push(port);
    const received: Uint8Array[] = [];
    port.onReceive((frame) => received.push(frame));
    return { port, received, messages };
  }

  async closeAll(): Promise<void> {
    await Promise.all(this.opened.splice(0).map((port) => port.close()));
  }
}

export interface TestPort {
  readonly port: NetPort;
  readonly received: Uint8Array[];
  readonly messages: string[];
}

/** Poll until `condition` holds (sockets deliver asynchronously). */
export async function until(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A frame of `length` bytes whose contents tell it apart from the others. */
export function testFrame(seed: number, length = 60 + (seed % 1400)): Uint8Array {
  const frame = new Uint8Array(length);
  for (let i = 0; i < length; i++) frame[i] = (seed * 31 + i * 7) & 0xff;
  return frame;
}

/** A plain node:net client playing the peer, to write raw bytes at a listen= port. */
export async function rawPeer(port: number): Promise<{ socket: Socket; received: () => Buffer; closed: Promise<void> }> {
  const socket = connect({ host: '127.0.0.1', port });
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  socket.setNoDelay(true);
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return { socket, received: () => Buffer.concat(chunks), closed };
}

/** The bytes of one frame on the wire: 4-byte big-endian length, then the frame. */
export function framed(frame: Uint8Array): Buffer {
  const header = Buffer.alloc(4);
  header.writeUInt32BE(frame.length);
  return Buffer.concat([header, frame]);
}

export const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
