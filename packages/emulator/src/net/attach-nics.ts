import type { Host, NetBackend, NetPort } from '@tessera/core';
import type { MachineConfig, NetdevConfig } from '../machine/config.ts';
import { StartupError } from '../machine/startup-error.ts';

export interface OpenNic {
  readonly index: number;
  readonly port: NetPort;
}

/** v86 0.5.462 has a single NE2000 (bus events `net0-*`). */
const MAX_NICS = 1;

/**
 * Open the netdev behind every NIC through the net layer (a loadable module such as net-socket).
 * An unknown type is QEMU's "does not accept value"; a module that is missing or refused reports
 * the loader's own message.
 */
export async function openNics(host: Host, machine: MachineConfig): Promise<OpenNic[]> {
  if (machine.nics.length > MAX_NICS) {
    throw new StartupError(`${machine.nics[MAX_NICS]!.origin}: this machine has a single NE2000 (ne2k_pci): at most ${MAX_NICS} NIC`);
  }
  // Every netdev is checked, also one no NIC uses (QEMU rejects an unknown type there too).
  const backends = new Map<NetdevConfig, NetBackend>();
  for (const netdev of machine.netdevs) backends.set(netdev, await findBackend(host, netdev));
  const opened: OpenNic[] = [];
  try {
    for (const [index, nic] of machine.nics.entries()) {
      const netdev = machine.netdevs.find((n) => n.id === nic.netdev)!;
      const backend = backends.get(netdev)!;
      try {
        opened.push({ index, port: await backend.open(netdev.options) });
      } catch (error) {
        throw new StartupError(`${netdev.origin}: ${(error as Error).message}`, { cause: error });
      }
    }
  } catch (error) {
    await Promise.allSettled(opened.map((nic) => nic.port.close()));
    throw error;
  }
  return opened;
}

async function findBackend(host: Host, netdev: NetdevConfig): Promise<NetBackend> {
  let backend: NetBackend | undefined;
  try {
    backend = await host.net.netdev(netdev.type);
  } catch (error) {
    // The module is missing, refused or failed to initialize: the loader's message says which.
    throw new StartupError(`${netdev.origin}: ${(error as Error).message}`, { cause: error });
  }
  if (!backend) throw new StartupError(`${netdev.origin}: Parameter 'type' does not accept value '${netdev.type}'`);
  for (const key of Object.keys(netdev.options)) {
    if (!backend.options?.includes(key)) throw new StartupError(`${netdev.origin}: Invalid parameter '${key}'`);
  }
  return backend;
}
