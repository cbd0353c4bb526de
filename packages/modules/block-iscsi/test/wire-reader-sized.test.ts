// The shared WireReader's sized reads (block-iscsi's Data-In): with `sizeReads(48)` before a
// header, the header arrives in a read of its own and the payload after it goes straight into the
// destination of the readInto waiting for it. A loopback peer sends headers and payloads together
// (as a target does); every read must return exactly the bytes sent, in order, and the payloads
// must land in their destinations by the socket's reads, not copied out of the reused buffer.
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WireReader } from '@tessera/module-kit/socket/wire-reader';

let server: Server | undefined;
afterEach(async () => {
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  server = undefined;
});

/** A peer that sends `stream` in one write once the client has connected, then ends. */
async function sizedReader(stream: Buffer, sized: number): Promise<{ reader: WireReader; socket: Socket; reads: number[] }> {
  server = createServer((peer) => peer.end(stream));
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const reader = new WireReader(undefined, () => Object.assign(new Error('the peer closed the connection'), { code: 'closed' }));
  // Record the size of every buffer the socket is given to read into.
  reader.sizeReads(sized); // before connecting: the socket's first buffer is chosen then
  const reads: number[] = [];
  const onread = {
    buffer: () => {
      const buffer = (reader.onread.buffer as () => Uint8Array)();
      reads.push(buffer.length);
      return buffer;
    },
    callback: reader.onread.callback,
  };
  const socket = connect({ host: '127.0.0.1', port, onread });
  reader.listen(socket, true);
  return { reader, socket, reads };
}

const pattern = (length: number, seed: number) => Buffer.from(Array.from({ length }, (_, i) => (i * 31 + seed) & 0xff));

describe('WireReader sizeReads', () => {
  it('headers read alone, payloads straight into their destinations, every byte in order', async () => {
    const payloadLength = 256 * 1024;
    const pdus = [1, 2, 3].map((seed) => ({ header: pattern(48, seed), payload: pattern(payloadLength, seed + 10) }));
    const trailer = pattern(48, 99); // a last header with no payload (a status), then the end
    const stream = Buffer.concat([...pdus.flatMap(({ header, payload }) => [header, payload]), trailer]);
    const { reader, socket, reads } = await sizedReader(stream, 48);

    for (const { header, payload } of pdus) {
      expect(await reader.read(48)).toEqual(header);
      const into = new Uint8Array(payloadLength + 2).fill(0xee);
      await reader.readInto(into.subarray(1, 1 + payloadLength));
      expect(Buffer.from(into.subarray(1, 1 + payloadLength)).equals(payload)).toBe(true);
      expect([into[0], into[into.length - 1]]).toEqual([0xee, 0xee]); // nothing outside the destination
    }
    expect(await reader.read(48)).toEqual(trailer);
    await expect(reader.read(1)).rejects.toMatchObject({ code: 'closed' });

    // Never a full read of the 64 KiB reused buffer: headers (and the payload's first bytes, read
    // before its reader asks for it) in reads of 48 bytes, the rest in reads into the destination.
    expect(reads).not.toContain(64 * 1024);
    expect(reads.filter((length) => length === 48).length).toBeGreaterThanOrEqual(2 * pdus.length + 1);
    expect(reads.filter((length) => length > 48).every((length) => length <= payloadLength - 48)).toBe(true);
    socket.destroy();
  });

  it('without sizeReads the same stream still reads correctly (header reads take payload bytes along)', async () => {
    const header = pattern(48, 1);
    const payload = pattern(100 * 1024, 2);
    const { reader, socket, reads } = await sizedReader(Buffer.concat([header, payload]), 0);
    expect(await reader.read(48)).toEqual(header);
    const into = new Uint8Array(payload.length);
    await reader.readInto(into);
    expect(Buffer.from(into).equals(payload)).toBe(true);
    expect(reads[0]).toBe(64 * 1024); // the header's read was a full reused-buffer read
    socket.destroy();
  });
});
