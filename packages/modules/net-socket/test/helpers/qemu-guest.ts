import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const workspaceRoot = fileURLToPath(new URL('../../../../..', import.meta.url));

export function hasQemu(): boolean {
  try {
    execFileSync('qemu-system-i386', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** tools/guest/build.sh's outputs (cached after the first build). */
export function buildGuest(): { vmlinuz: string; initrd: string } {
  const out = execFileSync(`${workspaceRoot}tools/guest/build.sh`, ['--quiet'], { encoding: 'utf8', timeout: 300_000 });
  const paths = Object.fromEntries(out.trim().split('\n').map((line) => line.split('=', 2) as [string, string]));
  return { vmlinuz: paths.vmlinuz!, initrd: paths.initrd!};
}

export interface RunningGuest {
  readonly child: ChildProcess;
  output(): string;
  /** Resolves with the whole output once the guest printed `TESSERA-GUEST: poweroff` or exited. */
  readonly finished: Promise<string>;
  kill(): void;
}

/**
 * Boot the test guest under QEMU with one NE2000 on `netdev` (e.g. `socket,id=n0,listen=…`). The MAC is
 * QEMU's `mac=`: the guest's `tessera.mac=` (ip link set address) does not reach QEMU's ne2k receive
 * filter, and pings then fail.
 */
export function bootQemuGuest(guest: { vmlinuz: string; initrd: string }, kernelArgs: string, netdev: string, mac: string): RunningGuest {
  const child = spawn('qemu-system-i386', [
    '-m', '128', '-nographic', '-no-reboot',
    '-kernel', guest.vmlinuz, '-initrd', guest.initrd,
    '-append', `console=ttyS0 cryptomgr.notests=1 noisapnp nokaslr ${kernelArgs}`,
    '-netdev', netdev, '-device', `ne2k_pci,netdev=n0,mac=${mac}`,
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (data: string) => (output += data));
  child.stderr!.setEncoding('utf8').on('data', (data: string) => (output += data));
  const finished = new Promise<string>((resolve) => {
    child.stdout!.on('data', () => output.includes('TESSERA-GUEST: poweroff') && resolve(output));
    child.on('close', () => resolve(output));
  });
  return { child, output: () => output, finished, kill: () => child.exitCode === null && child.kill() };
}
