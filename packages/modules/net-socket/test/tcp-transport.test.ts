import { afterEach, describe, expect, it } from 'vitest';
import { createServer } from 'node:net';
import { encodeFrame } from '../src/tcp-framing.ts';
import { framed, freePort, pause, PortSet, rawPeer, testFrame, until } from './helpers/ports.ts';

const ports = new PortSet();
afterEach(() => ports.closeAll());

async function listenAndConnect() {
  const port = await freePort();
  const listener = await ports.open({ id: 'n0', listen: `127.0.0.1:${port}` });
  const connector = await ports.open({ id: 'n1', connect: `127.0.0.1:${port}` });
  return { port, listener, connector };
}

describe('listen= and connect=', () => {
  it('exchange frames both ways, byte-exact', async () => {
    const { listener, connector } = await listenAndConnect();
    // connect() resolving does not mean the listen side has accepted yet: wait for the first frame.
    connector.port.send(testFrame(1));
    await until(() => listener.received.length === 1, 'the first frame at the listen side');
    listener.port.send(testFrame(2, 1514));
    listener.port.send(testFrame(3, 60));
    await until(() => connector.received.length === 2, 'two frames at the connect side');
    expect(listener.received).toEqual([testFrame(1)]);
    expect(connector.received).toEqual([testFrame(2, 1514), testFrame(3, 60)]);
  });

  it('carry many frames sent back-to-back in order', async () => {
    const { listener, connector } = await listenAndConnect();
    connector.port.send(testFrame(0));
    await until(() => listener.received.length === 1, 'the first frame');
    const count = 2000;
    const sent = Array.from({ length: count }, (_, i) => testFrame(i));
    for (const frame of sent) listener.port.send(frame);
    for (const frame of sent) connector.port.send(frame);
    await until(() => connector.received.length === count && listener.received.length === count + 1, `${count} frames each way`, 20_000);
    // Compared as one byte string each (a deep toEqual of 2000 arrays is slow); the counts match above.
    const lengths = (frames: Uint8Array[]) => frames.map((frame) => frame.length);
    expect(lengths(connector.received)).toEqual(lengths(sent));
    expect(Buffer.concat(connector.received).equals(Buffer.concat(sent))).toBe(true);
    expect(lengths(listener.received.slice(1))).toEqual(lengths(sent));
    expect(Buffer.concat(listener.received.slice(1)).equals(Buffer.concat(sent))).toBe(true);
  });

  it('drop frames sent while no peer is connected', async () => {
    const port = await freePort();
    const listener = await ports.open({ listen: `127.0.0.1:${port}` });
    listener.port.send(testFrame(1)); // nobody there: dropped, no error
    const peer = await rawPeer(port);
    await pause(100);
    expect(peer.received()).toEqual(Buffer.alloc(0));
    listener.port.send(testFrame(2));
    await until(() => peer.received().length === 4 + testFrame(2).length, 'the frame sent after the peer came');
    expect(peer.received()).toEqual(framed(testFrame(2)));
    peer.socket.destroy();
  });

  it('rejects connect= to a closed port, naming the address', async () => {
    const port = await freePort();
    await expect(ports.open({ connect: `127.0.0.1:${port}` })).rejects.toThrow(
      new RegExp(`^can't connect to 127.0.0.1:${port}: connection refused \\(ECONNREFUSED\\)$`),
    );
  });

  it('rejects listen= on a port in use', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    await expect(ports.open({ listen: `127.0.0.1:${port}` })).rejects.toThrow(
      `can't listen on 127.0.0.1:${port}: address already in use (EADDRINUSE)`,
    );
    server.close();
  });

  it('connect= reports a lost connection and drops frames afterwards', async () => {
    const port = await freePort();
    const server = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    const connector = await ports.open({ connect: `127.0.0.1:${port}` });
    await until(() => connector.messages.length === 1, 'the report of the lost connection');
    expect(connector.messages[0]).toMatch(new RegExp(`^connect=127.0.0.1:${port}: connection lost \\((closed by the peer|connection reset by peer \\(ECONNRESET\\))\\); frames are dropped from now on$`));
    connector.port.send(testFrame(1)); // no peer: dropped without an error
    server.close();
  });
});

describe('listen= with a raw peer (framing on the wire)', () => {
  it('parses a frame split across writes and coalesced frames', async () => {
    const port = await freePort();
    const listener = await ports.open({ listen: `127.0.0.1:${port}` });
    const peer = await rawPeer(port);
    const bytes = Buffer.concat([framed(testFrame(1, 1514)), framed(testFrame(2, 60)), framed(testFrame(3, 100))]);
    // Cut inside the first length prefix, inside the first frame, and between frames 2 and 3 mid-header.
    const cuts = [0, 2, 700, 1518 + 4 + 60 + 2, bytes.length];
    for (let i = 1; i < cuts.length; i++) {
      peer.socket.write(bytes.subarray(cuts[i - 1], cuts[i]));
      await pause(30); // separate TCP segments
    }
    await until(() => listener.received.length === 3, 'three frames');
    expect(listener.received).toEqual([testFrame(1, 1514), testFrame(2, 60), testFrame(3, 100)]);
    // And the listen side writes the same framing.
    listener.port.send(testFrame(4, 77));
    await until(() => peer.received().length === 81, 'the framed reply');
    expect(peer.received()).toEqual(encodeFrame(testFrame(4, 77)));
    peer.socket.destroy();
  });

  it.each([
    ['a zero length', Buffer.from([0, 0, 0, 0]), 'zero-length frame received, connection terminated'],
    ['an oversized length', Buffer.from([0, 1, 0x10, 0x01]), 'oversized frame received (69633 bytes, at most 69632), connection terminated'],
  ])('drops the connection on %s, then accepts a new peer', async (_, header, message) => {
    const port = await freePort();
    const listener = await ports.open({ listen: `127.0.0.1:${port}` });
    const bad = await rawPeer(port);
    bad.socket.write(Buffer.concat([framed(testFrame(1)), header]));
    await bad.closed;
    expect(listener.received).toEqual([testFrame(1)]);
    await until(() => listener.messages.length === 1, 'the report');
    expect(listener.messages[0]).toMatch(new RegExp(`^listen=127.0.0.1:${port}: peer 127.0.0.1:\\d+: ${message.replace(/[()]/g, '\\$&')}; waiting for a new peer$`));
    const good = await rawPeer(port);
    good.socket.write(framed(testFrame(2)));
    await until(() => listener.received.length === 2, 'a frame from the new peer');
    expect(listener.received[1]).toEqual(testFrame(2));
    good.socket.destroy();
  });

  it('accepts a new peer after a disconnect, and turns away a second one meanwhile', async () => {
    const port = await freePort();
    const listener = await ports.open({ listen: `127.0.0.1:${port}` });
    const first = await rawPeer(port);
    first.socket.write(framed(testFrame(1)));
    await until(() => listener.received.length === 1, 'a frame from the first peer');

    const second = await rawPeer(port);
    await second.closed;
    expect(listener.messages).toEqual([expect.stringMatching(/refused a connection from 127\.0\.0\.1:\d+: already connected to 127\.0\.0\.1:\d+/)]);

    first.socket.end();
    await first.closed;
    await pause(50);
    listener.port.send(testFrame(99)); // between peers: dropped
    const third = await rawPeer(port);
    third.socket.write(framed(testFrame(3)));
    await until(() => listener.received.length === 2, 'a frame from the new peer');
    listener.port.send(testFrame(4));
    await until(() => third.received().length === 4 + testFrame(4).length, 'a frame to the new peer');
    expect(listener.received).toEqual([testFrame(1), testFrame(3)]);
    expect(third.received()).toEqual(framed(testFrame(4)));
    expect(listener.messages).toHaveLength(1); // ordinary disconnects are not reported
    third.socket.destroy();
  });

  it('close() closes the connection and the listening socket', async () => {
    const port = await freePort();
    const listener = await ports.open({ listen: `127.0.0.1:${port}` });
    const peer = await rawPeer(port);
    await pause(20);
    await ports.closeAll();
    await peer.closed;
    await expect(rawPeer(port)).rejects.toThrow(/ECONNREFUSED/);
    expect(listener.messages).toEqual([]);
  });
});
