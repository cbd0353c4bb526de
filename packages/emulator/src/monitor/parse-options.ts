import { parseKeyValues, parseOnOff } from '../cli/key-value.ts';
import type { MonitorConfig, MonitorEndpoint } from './config.ts';

/**
 * The monitor options of QEMU's command line, collected while parsing and resolved at the end
 * (a `-mon` may name a `-chardev` given after it).
 */
export class MonitorOptions {
  private readonly chardevs = new Map<string, { endpoint: MonitorEndpoint; origin: string }>();
  private readonly mons: { chardev: string; mode: 'control' | 'readline'; origin: string }[] = [];
  private readonly direct: MonitorConfig[] = [];
  private compatCount = 0;

  /** `-qmp unix:PATH,server=on,wait=off` / `tcp:HOST:PORT,…` (and `-qmp stdio`). */
  qmp(argument: string): void {
    this.direct.push({ mode: 'control', label: this.compatLabel(), endpoint: parseChardevUri(argument), origin: `-qmp ${argument}` });
  }

  /** `-monitor stdio` / `unix:…` / `tcp:…` / `none`. */
  monitor(argument: string): void {
    if (argument === 'none') return;
    this.direct.push({ mode: 'readline', label: this.compatLabel(), endpoint: parseChardevUri(argument), origin: `-monitor ${argument}` });
  }

  /** `-serial mon:stdio`: the human monitor shares the terminal with COM1. */
  serialMux(): void {
    this.direct.push({ mode: 'readline', label: this.compatLabel(), endpoint: { kind: 'mux-stdio' }, origin: '-serial mon:stdio' });
  }

  /** -nographic without -serial: the monitor joins COM1 on stdio, unless a monitor already uses stdio. */
  nographicDefault(): void {
    if (this.direct.some((m) => m.endpoint.kind === 'stdio' || m.endpoint.kind === 'mux-stdio')) return;
    if ([...this.chardevs.values()].some((c) => c.endpoint.kind === 'stdio')) return;
    this.serialMux();
  }

  /** `-chardev socket,id=ID,path=PATH|host=H,port=P,server=on,wait=off` (and `stdio,id=ID`). */
  chardev(argument: string): void {
    const kv = parseKeyValues(argument, 'backend');
    const backend = kv.get('backend') ?? '';
    const id = kv.get('id');
    if (!id) throw new Error('chardev: no id specified');
    if (this.chardevs.has(id)) throw new Error(`attempt to add duplicate property '${id}' to object (type 'container')`);
    let endpoint: MonitorEndpoint;
    if (backend === 'socket') {
      const allowed = ['backend', 'id', 'path', 'host', 'port', 'server', 'wait', 'nodelay', 'ipv4', 'ipv6'];
      for (const key of kv.keys()) if (!allowed.includes(key)) throw new Error(`Invalid parameter '${key}'`);
      requireServer(kv);
      const path = kv.get('path');
      if (path !== undefined) endpoint = { kind: 'unix', path };
      else endpoint = tcpEndpoint(kv.get('host') ?? '0.0.0.0', kv.get('port'));
    } else if (backend === 'stdio') {
      endpoint = { kind: 'stdio' };
    } else {
      throw new Error(`'${backend}' is not a valid char driver name (this machine's monitors support socket and stdio)`);
    }
    this.chardevs.set(id, { endpoint, origin: `-chardev ${argument}` });
  }

  /** `-mon chardev=ID,mode=control|readline`. */
  mon(argument: string): void {
    const kv = parseKeyValues(argument, 'chardev');
    for (const key of kv.keys()) if (!['chardev', 'mode', 'pretty'].includes(key)) throw new Error(`Invalid parameter '${key}'`);
    const chardev = kv.get('chardev');
    if (!chardev) throw new Error("Parameter 'chardev' is missing");
    const mode = kv.get('mode') ?? 'readline';
    if (mode !== 'control' && mode !== 'readline') throw new Error(`Parameter 'mode' does not accept value '${mode}'`);
    this.mons.push({ chardev, mode, origin: `-mon ${argument}` });
  }

  /** Every monitor, `-mon`s tied to their chardevs. Throws (with the option) on an unknown chardev id. */
  resolve(): MonitorConfig[] {
    const resolved = [...this.direct];
    for (const mon of this.mons) {
      const chardev = this.chardevs.get(mon.chardev);
      if (!chardev) throw Object.assign(new Error(`chardev "${mon.chardev}" not found`), { origin: mon.origin });
      resolved.push({ mode: mon.mode, label: mon.chardev, endpoint: chardev.endpoint, origin: mon.origin });
    }
    const terminals = resolved.filter((m) => m.endpoint.kind === 'stdio' || m.endpoint.kind === 'mux-stdio');
    if (terminals.length > 1) throw Object.assign(new Error('cannot use stdio by multiple character devices'), { origin: terminals[1]!.origin });
    return resolved;
  }

  private compatLabel(): string {
    return `compat_monitor${this.compatCount++}`;
  }
}

/** A chardev given as QEMU's URI-like string: `unix:PATH[,opts]`, `tcp:HOST:PORT[,opts]`, `stdio`. */
function parseChardevUri(text: string): MonitorEndpoint {
  if (text === 'stdio') return { kind: 'stdio' };
  const match = /^(unix|tcp):(.*)$/.exec(text);
  if (!match) throw new Error(`'${text}' is not a valid char driver`);
  const [address, ...rest] = match[2]!.split(',');
  const kv = parseKeyValues(rest.join(','));
  for (const key of kv.keys()) if (!['server', 'wait', 'nowait', 'nodelay'].includes(key)) throw new Error(`Invalid parameter '${key}'`);
  requireServer(kv);
  if (match[1] === 'unix') {
    if (!address) throw new Error('chardev: socket: no path given');
    return { kind: 'unix', path: address };
  }
  const colon = address!.lastIndexOf(':');
  if (colon < 0) throw new Error(`host and/or port not specified in '${address}'`);
  return tcpEndpoint(address!.slice(0, colon) || '0.0.0.0', address!.slice(colon + 1));
}

function tcpEndpoint(host: string, portText: string | undefined): MonitorEndpoint {
  const port = Number(portText);
  if (portText === undefined || portText === '' || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`port '${portText ?? ''}' is not a valid TCP port`);
  }
  return { kind: 'tcp', host: host.replace(/^\[(.*)\]$/, '$1'), port };
}

/**
 * Only listening sockets that do not wait for a client: the machine must not block its start on
 * a client (QEMU's `wait=on` default would), and connecting out is not offered.
 */
function requireServer(kv: Map<string, string>): void {
  const server = parseOnOff(kv.get('server') ?? 'off', 'server');
  const wait = kv.has('nowait') ? false : parseOnOff(kv.get('wait') ?? 'on', 'wait');
  if (!server) throw new Error('a monitor socket must be a listening one here: add server=on,wait=off');
  if (wait) throw new Error('waiting for a monitor client before the machine starts is not supported: add wait=off');
}
