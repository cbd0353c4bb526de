import type { Ne2k } from '../machine/v86-internals.ts';

/** QEMU's default MAC for the first NIC; later NICs count up from it. */
const BASE_MAC = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];

export function defaultMac(index: number): Uint8Array {
  const mac = Uint8Array.from(BASE_MAC);
  mac[5] = (mac[5]! + index) & 0xff;
  return mac;
}

export function formatMac(mac: Uint8Array): string {
  return [...mac].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/**
 * v86 gives its NE2000 a random MAC. Replace it, in the register and in the address PROM the
 * guest driver reads it from, before the machine starts running.
 */
export function setNicMac(nic: Ne2k, mac: Uint8Array): void {
  nic.mac.set(mac);
  for (let i = 0; i < 6; i++) {
    nic.memory[i << 1] = mac[i]!;
    nic.memory[(i << 1) | 1] = mac[i]!;
  }
}
