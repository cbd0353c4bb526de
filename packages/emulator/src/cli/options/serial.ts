// `-serial SPEC`: COM1's character backend, in QEMU's syntax.
import type { SerialConfig } from '../../machine/config.ts';
import { parseKeyValues, parseOnOff } from '../key-value.ts';

export const SERIAL_BACKENDS = 'stdio, mon:stdio, none, null, pty, file:PATH, tcp:[HOST]:PORT[,server=on|off][,wait=on|off], unix:PATH[,server=on|off][,wait=on|off]';

/** QEMU's backends that this machine does not offer (a clear refusal, not "not a valid char driver"). */
const OTHER_QEMU_BACKENDS = ['vc', 'udp', 'pipe', 'telnet', 'websocket', 'msmouse', 'braille', 'parallel', 'serial', 'tty', 'chardev', 'ringbuf', 'memory', 'spicevmc', 'spiceport'];

export function parseSerial(spec: string): SerialConfig {
  if (spec === 'stdio') return { kind: spec };
  if (spec === 'mon:stdio') return { kind: 'stdio', monitor: true };
  if (spec === 'pty') return { kind: 'pty' };
  if (spec === 'none' || spec === 'null') return { kind: 'none' };
  if (spec.startsWith('file:')) {
    const path = spec.slice('file:'.length);
    return { kind: 'file', path };
  }
  if (spec.startsWith('tcp:')) return parseTcp(spec);
  if (spec.startsWith('unix:')) return parseUnix(spec);
  const backend = spec.split(':')[0]!;
  if (OTHER_QEMU_BACKENDS.includes(backend)) {
    throw new Error(`char device backend '${backend}' is not available in tessera; use one of ${SERIAL_BACKENDS}`);
  }
  throw new Error(`'${spec}' is not a valid char driver; use one of ${SERIAL_BACKENDS}`);
}

/** `unix:PATH[,server=on|off][,wait=on|off]`: a Unix domain socket, listened on or connected to. */
function parseUnix(spec: string): SerialConfig {
  const kv = parseKeyValues(spec.slice('unix:'.length), 'path');
  const path = kv.get('path') ?? '';
  if (!path) throw new Error(`could not connect serial device to character backend '${spec}'`);
  const { server, wait } = serverOptions(kv, ['path']);
  return { kind: 'unix', path, server, wait, origin: `-serial ${spec}` };
}

/** `server=` and `wait=` with QEMU's defaults (a server waits for its first client unless wait=off). */
function serverOptions(kv: ReadonlyMap<string, string>, addressKeys: readonly string[]): { server: boolean; wait: boolean } {
  for (const key of kv.keys()) {
    if (![...addressKeys, 'server', 'wait', 'nodelay'].includes(key)) throw new Error(`Invalid parameter '${key}'`);
  }
  const server = parseOnOff(kv.get('server') ?? 'off', 'server');
  return { server, wait: parseOnOff(kv.get('wait') ?? (server ? 'on' : 'off'), 'wait') };
}

/** `tcp:[HOST]:PORT[,server=on|off][,wait=on|off][,nodelay=on|off]` (an empty HOST listens on every address). */
function parseTcp(spec: string): SerialConfig {
  const kv = parseKeyValues(spec.slice('tcp:'.length), 'address');
  const address = kv.get('address') ?? '';
  const colon = address.lastIndexOf(':');
  const host = address.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  const portText = address.slice(colon + 1);
  const port = Number(portText);
  if (colon < 0 || !/^\d+$/.test(portText) || port > 65535) throw new Error(`could not connect serial device to character backend '${spec}'`);
  const { server, wait } = serverOptions(kv, ['address']);
  if (!server && !host) throw new Error(`could not connect serial device to character backend '${spec}': a client needs a host`);
  return { kind: 'tcp', host, port, server, wait, origin: `-serial ${spec}` };
}
