// Two emulators on one link through the net-socket module (-netdev socket, QEMU's TCP framing):
// guest A answers pings (listen=), guest B pings it (connect=). Both boot at once on a shared
// 2-core machine: measured 149-168 s for the pair under load, hence the shared boot timeout.
import { connect, createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { executable } from '../../../tools/test-support/executables.ts';
import { boot, BOOT_TIMEOUT_MS, markers } from './support/boot.ts';
import { kernelArgs } from './support/guest.ts';

/** A TCP port on 127.0.0.1 that was free a moment ago. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Resolves once something listens on 127.0.0.1:port (the probe is an ordinary peer that leaves at once). */
async function listening(port: number, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const up = await new Promise<boolean>((resolve) => {
      const probe = connect({ host: '127.0.0.1', port });
      probe.once('connect', () => (probe.destroy(), resolve(true)));
      probe.once('error', () => resolve(false));
    });
    if (up) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe('-netdev socket between two emulators', () => {
  it('guest B pings guest A over listen= / connect=', async () => {
    const emulator = executable('emulator', 'modular');
    const port = await freePort();
    const nic = (netdev: string) => ['-netdev', `socket,id=n0,${netdev}`, '-device', 'ne2k_pci,netdev=n0'];
    // Both NICs get QEMU's default MAC (52:54:00:12:34:56): fine on a point-to-point link.
    const pong = boot(emulator, [
      '-m', '128', '-nographic', ...nic(`listen=127.0.0.1:${port}`),
      ...kernelArgs('pong', 'tessera.ip=10.0.6.1 tessera.count=3 tessera.timeout=300'),
    ]);
    await listening(port);
    const ping = boot(emulator, [
      '-m', '128', '-nographic', ...nic(`connect=127.0.0.1:${port}`),
      ...kernelArgs('ping', 'tessera.ip=10.0.6.2 tessera.peer=10.0.6.1 tessera.count=3 tessera.timeout=90'),
    ]);
    const [a, b] = await Promise.all([pong, ping]);
    expect(markers(b.stdout), b.stdout + b.stderr).toContain('ping ok received=3/3 peer=10.0.6.1');
    expect(markers(a.stdout), a.stdout + a.stderr).toContain('pong done echo-requests=3');
    expect([a.code, b.code]).toEqual([0, 0]);
    expect(a.stderr + b.stderr).toBe('');
    console.log(`ping/pong pair: pong ${a.seconds.toFixed(1)} s, ping ${b.seconds.toFixed(1)} s`);
  }, BOOT_TIMEOUT_MS);
});
