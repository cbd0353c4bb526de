import { afterEach, describe, expect, it } from 'vitest';
import { createSocket } from 'node:dgram';
import { freePort, pause, PortSet, testFrame, until } from './helpers/ports.ts';

const ports = new PortSet();
afterEach(() => ports.closeAll());

// Multicast on the loopback interface: localaddr=127.0.0.1 joins the group there and sends there.
describe('mcast=', () => {
  it('every port on the group sees the frames of the others, but not its own', async () => {
    const port = await freePort();
    const options = { mcast: `239.255.42.1:${port}`, localaddr: '127.0.0.1' };
    const a = await ports.open(options);
    const b = await ports.open(options);
    const c = await ports.open(options);
    a.port.send(testFrame(1, 1514));
    b.port.send(testFrame(2, 60));
    await until(() => c.received.length === 2 && a.received.length === 1 && b.received.length === 1, 'the frames on the group');
    await pause(100); // nothing more arrives: no own frames looped back
    expect(a.received).toEqual([testFrame(2, 60)]);
    expect(b.received).toEqual([testFrame(1, 1514)]);
    expect(c.received.map((frame) => frame.length).sort((x, y) => x - y)).toEqual([60, 1514]);
    expect([a, b, c].flatMap((p) => p.messages)).toEqual([]);
  });

  it('one datagram per frame, sent to the group port, as QEMU reads them', async () => {
    const port = await freePort();
    const group = '230.0.0.1';
    const qemuLike = createSocket({ type: 'udp4', reuseAddr: true });
    const datagrams: Buffer[] = [];
    qemuLike.on('message', (datagram) => datagrams.push(datagram));
    await new Promise<void>((resolve) => qemuLike.bind(port, group, resolve));
    qemuLike.addMembership(group, '127.0.0.1');
    qemuLike.setMulticastInterface('127.0.0.1');
    qemuLike.setMulticastLoopback(true);

    const ours = await ports.open({ mcast: `${group}:${port}`, localaddr: '127.0.0.1' });
    ours.port.send(testFrame(7, 100));
    ours.port.send(testFrame(8, 200));
    await until(() => datagrams.length === 2, 'two datagrams');
    expect(datagrams).toEqual([Buffer.from(testFrame(7, 100)), Buffer.from(testFrame(8, 200))]);
    // QEMU sends from the group's port on the same socket: those are not taken for our own.
    qemuLike.send(testFrame(9, 300), port, group);
    await until(() => ours.received.length === 1, 'the frame from the QEMU-like peer');
    expect(ours.received).toEqual([testFrame(9, 300)]);
    await new Promise<void>((resolve) => qemuLike.close(resolve));
  });

  it('close() leaves the group: a closed port receives nothing more', async () => {
    const port = await freePort();
    const options = { mcast: `239.255.42.2:${port}`, localaddr: '127.0.0.1' };
    const a = await ports.open(options);
    const b = await ports.open(options);
    await b.port.close();
    a.port.send(testFrame(1));
    await pause(100);
    expect(b.received).toEqual([]);
  });

  it('reports a localaddr that is not on this host', async () => {
    const port = await freePort();
    await expect(ports.open({ mcast: `239.255.42.3:${port}`, localaddr: '192.0.2.200' })).rejects.toThrow(
      `can't join multicast group 239.255.42.3:${port} on 192.0.2.200: `,
    );
  });
});

describe('udp=', () => {
  it('two ports exchange frames over unicast UDP', async () => {
    const [portA, portB] = [await freePort(), await freePort()];
    const a = await ports.open({ udp: `127.0.0.1:${portB}`, localaddr: `127.0.0.1:${portA}` });
    const b = await ports.open({ udp: `127.0.0.1:${portA}`, localaddr: `127.0.0.1:${portB}` });
    a.port.send(testFrame(1, 1514));
    b.port.send(testFrame(2, 42));
    await until(() => a.received.length === 1 && b.received.length === 1, 'one frame each way');
    expect(a.received).toEqual([testFrame(2, 42)]);
    expect(b.received).toEqual([testFrame(1, 1514)]);
  });
});
