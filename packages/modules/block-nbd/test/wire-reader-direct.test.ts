// The shared WireReader fed by `onread` (block-nbd's replies): the socket reads straight into the
// buffer of a waiting readInto, headers are copied out of one reused buffer. A loopback peer
// sends the bytes in awkward pieces; every read must return exactly the bytes sent, in order,
// whichever buffer they landed in, and a connection lost mid-payload must fail the read.
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WireReader } from '@tessera/module-kit/socket/wire-reader';

let server: Server | undefined;
afterEach(async () => {
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  server = undefined;
});

/** A peer that sends `pieces` with a pause between them (so each arrives as its own read), then ends. */
async function directReader(pieces: Buffer[]): Promise<{ reader: WireReader; socket: Socket }> {
  server = createServer(async (peer) => {
    for (const piece of pieces) {
      peer.write(piece);
      await new Promise((resolve) => setTimeout(resolve, 15));
    }
    peer.end();
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const reader = new WireReader(undefined, () => Object.assign(new Error('the peer closed the connection'), { code: 'closed' }));
  const socket = connect({ host: '127.0.0.1', port, onread: reader.onread });
  reader.listen(socket, true);
  return { reader, socket };
}

/** Bytes that tell every position apart. */
const pattern = (length: number, seed: number) => Buffer.from(Array.from({ length }, (_, i) => (i * 31 + seed) & 0xff));

describe('WireReader fed by onread', () => {
  it('headers and payloads come out exactly as sent, however the pieces fall', async () => {
    const header = pattern(16, 1);
    const big = pattern(300 * 1024, 2); // larger than the reused buffer: most of it read in place
    const small = pattern(5000, 3); // below the in-place minimum: copied from the reused buffer
    const trailer = pattern(8, 4);
    const stream = Buffer.concat([header, big, small, trailer]);
    // A header split in two, a payload starting in the header's piece, and a piece that ends one payload and starts the next.
    const cuts = [3, 16 + 100, 16 + 70_000, 16 + 300 * 1024 + 10, stream.length - 4];
    const pieces = cuts.map((end, i) => stream.subarray(i === 0 ? 0 : cuts[i - 1], end));
    pieces.push(stream.subarray(cuts[cuts.length - 1]));
    const { reader, socket } = await directReader(pieces);

    expect(await reader.read(16)).toEqual(header);
    const intoBig = new Uint8Array(big.length + 2).fill(0xee);
    await reader.readInto(intoBig.subarray(1, 1 + big.length));
    expect(Buffer.from(intoBig.subarray(1, 1 + big.length)).equals(big)).toBe(true);
    expect([intoBig[0], intoBig[intoBig.length - 1]]).toEqual([0xee, 0xee]); // nothing written outside the destination
    const intoSmall = new Uint8Array(small.length);
    await reader.readInto(intoSmall);
    expect(Buffer.from(intoSmall).equals(small)).toBe(true);
    // Kept bytes are copies: later reads into the reused buffer do not change them.
    const first = await reader.read(4);
    const second = await reader.read(4);
    expect(Buffer.concat([first, second])).toEqual(trailer);
    await expect(reader.read(1)).rejects.toThrow('the peer closed the connection');
    socket.destroy();
  });

  it('a connection that ends inside a payload fails the read waiting for it', async () => {
    const { reader, socket } = await directReader([pattern(4, 5), pattern(64 * 1024, 6)]);
    expect(await reader.read(4)).toEqual(pattern(4, 5));
    await expect(reader.readInto(new Uint8Array(128 * 1024))).rejects.toMatchObject({ code: 'closed' });
    socket.destroy();
  });
});
