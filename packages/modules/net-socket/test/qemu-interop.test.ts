import { afterEach, describe, expect, it } from 'vitest';
import type { NetPort } from '@tessera/core';
import { openSocketNetdev } from '../src/socket-netdev.ts';
import { freePort, pause } from './helpers/ports.ts';
import { bootQemuGuest, buildGuest, hasQemu, type RunningGuest } from './helpers/qemu-guest.ts';

// Two QEMU guests (ping and pong) that reach each other only through our ports, relaying frames:
// checks our framing and multicast against QEMU's own `-netdev socket`, byte for byte.
const guests: RunningGuest[] = [];
const ports: NetPort[] = [];
afterEach(async () => {
  for (const guest of guests.splice(0)) guest.kill();
  await Promise.all(ports.splice(0).map((port) => port.close()));
});

async function open(options: Record<string, string>): Promise<NetPort> {
  const port = await openSocketNetdev(options, () => {});
  ports.push(port);
  return port;
}

/** QEMU listens lazily but only after it has started: retry until it does. */
async function connectWhenListening(address: string): Promise<NetPort> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await open({ connect: address });
    } catch (error) {
      if (attempt > 100) throw error;
      await pause(100);
    }
  }
}

function relay(a: NetPort, b: NetPort): void {
  a.onReceive((frame) => b.send(frame));
  b.onReceive((frame) => a.send(frame));
}

const [PONG_MAC, PING_MAC] = ['52:54:00:00:05:01', '52:54:00:00:05:02'];
const pong = 'tessera.test=pong tessera.ip=10.0.5.1 tessera.timeout=90';
const ping = 'tessera.test=ping tessera.ip=10.0.5.2 tessera.peer=10.0.5.1 tessera.timeout=60';

describe.skipIf(!hasQemu())('with QEMU 7.2 as the peer', () => {
  it('relays a ping between QEMU connect= and QEMU listen= (our listen= and connect=)', async () => {
    const guest = buildGuest();
    const [ourPort, qemuPort] = [await freePort(), await freePort()];
    const ours = await open({ listen: `127.0.0.1:${ourPort}` });
    guests.push(bootQemuGuest(guest, pong, `socket,id=n0,connect=127.0.0.1:${ourPort}`, PONG_MAC));
    guests.push(bootQemuGuest(guest, ping, `socket,id=n0,listen=127.0.0.1:${qemuPort}`, PING_MAC));
    relay(ours, await connectWhenListening(`127.0.0.1:${qemuPort}`));
    const [pongOut, pingOut] = await Promise.all(guests.map((g) => g.finished));
    expect(pingOut, pingOut).toContain('TESSERA-GUEST: ping ok received=3/3 peer=10.0.5.1');
    expect(pongOut, pongOut).toMatch(/TESSERA-GUEST: pong done echo-requests=[3-9]/);
  }, 240_000);

  it('relays a ping between a QEMU mcast= guest and a QEMU connect= guest', async () => {
    const guest = buildGuest();
    const [ourPort, groupPort] = [await freePort(), await freePort()];
    const group = `239.255.43.1:${groupPort}`;
    const tcp = await open({ listen: `127.0.0.1:${ourPort}` });
    relay(tcp, await open({ mcast: group, localaddr: '127.0.0.1' }));
    guests.push(bootQemuGuest(guest, pong, `socket,id=n0,mcast=${group},localaddr=127.0.0.1`, PONG_MAC));
    guests.push(bootQemuGuest(guest, ping, `socket,id=n0,connect=127.0.0.1:${ourPort}`, PING_MAC));
    const [pongOut, pingOut] = await Promise.all(guests.map((g) => g.finished));
    expect(pingOut, pingOut).toContain('TESSERA-GUEST: ping ok received=3/3 peer=10.0.5.1');
    expect(pongOut, pongOut).toMatch(/TESSERA-GUEST: pong done echo-requests=[3-9]/);
  }, 240_000);
});
