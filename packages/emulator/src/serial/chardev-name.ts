import type { SerialConfig } from '../machine/config.ts';
/**
 * COM1 as QEMU's query-chardev names its backend (checked against qemu-system-i386). A server is
 * always named as QEMU names it before its first client ("disconnected:…"), and a client by the
 * address it connects to (QEMU: "tcp:LOCAL <-> REMOTE"): tessera does not follow the connection.
 */
export function serialFilename(serial: SerialConfig): string | undefined {
  switch (serial.kind) {
    case 'stdio': return 'stdio';
    case 'file': return 'file';
    case 'tcp': return `${serial.server ? 'disconnected:' : ''}tcp:${serial.host}:${serial.port}${serial.server ? ',server=on' : ''}`;
    case 'unix': return `${serial.server ? 'disconnected:' : ''}unix:${serial.path}${serial.server ? ',server=on' : ''}`;
    default: return undefined;
  }
}
