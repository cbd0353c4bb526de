import type { Command, DisplayConfig, DriveConfig, MachineConfig, NetdevConfig, NicConfig, SerialConfig } from '../machine/config.ts';
import { OptionError } from './errors.ts';
import { parseKeyValues, parseOnOff } from './key-value.ts';
import { parseMemorySize } from './memory-size.ts';
import { MonitorOptions } from '../monitor/parse-options.ts';
import { CPU_HELP, MACHINE_HELP, checkCpu, checkMachine, checkSmp, checkVga } from './options/machine-type.ts';
import { refuseUserNetworking } from './options/network.ts';
import { parseName } from './options/process.ts';
import { parseSerial } from './options/serial.ts';
import { floppyDrive, parseFloppyShorthand } from './options/floppy.ts';
import { parseSecretObject, type SecretObject } from './options/object.ts';

/** Options that take an argument; every other known option is a flag. */
const WITH_ARGUMENT = new Set([
  '-m', '-kernel', '-initrd', '-append', '-drive', '-hda', '-hdb', '-cdrom', '-boot', '-bios',
  '-serial', '-display', '-netdev', '-device', '-nic', '-output',
  '-qmp', '-monitor', '-chardev', '-mon',
  // QEMU's everyday options (src/cli/options/)
  '-fda', '-fdb', '-name', '-pidfile', '-vga', '-machine', '-M', '-cpu', '-smp', '-object',
]);
const FLAGS = new Set([
  '-nographic', '-snapshot', '-version', '-help', '-h', '-list-modules',
  '-no-reboot', '-no-shutdown', '-daemonize', '-S', '-nodefaults', '-no-acpi',
]);
const DEFAULT_MEMORY = 128 * 2 ** 20;
/** v86's RAM is one block from address 0; its VGA memory is mapped at 3.5 GiB. */
const MAX_MEMORY = 3 * 2 ** 30;
const NIC_MODELS = ['ne2k_pci'];
const DRIVE_KEYS = new Set(['file', 'format', 'if', 'media', 'index', 'unit', 'readonly', 'read-only', 'snapshot']);
/** Format options of -drive that name a secret: an encrypted qcow2's, a luks image's. */
const DRIVE_FORMAT_KEYS = new Set(['encrypt.key-secret', 'encrypt.format', 'key-secret']);

interface Mutable {
  memoryBytes: number;
  kernel?: string;
  initrd?: string;
  append?: string;
  bios?: string;
  drives: DriveConfig[];
  bootOrder?: string;
  serial?: SerialConfig;
  display?: DisplayConfig;
  nographic: boolean;
  snapshot: boolean;
  netdevs: NetdevConfig[];
  nics: NicConfig[];
  monitors: MonitorOptions;
  name?: string;
  processName?: string;
  pidfile?: string;
  daemonize: boolean;
  startPaused: boolean;
  noReboot: boolean;
  noShutdown: boolean;
  nodefaults: boolean;
  acpi: boolean;
  warnings: string[];
  secrets: SecretObject[];
}

/** Parse `tessera`'s command line (QEMU's syntax: single or double dash, `-opt arg`). */
export function parseCommandLine(argv: readonly string[]): Command {
  const m: Mutable = {
    memoryBytes: DEFAULT_MEMORY, drives: [], nographic: false, snapshot: false, netdevs: [], nics: [], monitors: new MonitorOptions(),
    daemonize: false, startPaused: false, noReboot: false, noShutdown: false, nodefaults: false, acpi: false, warnings: [], secrets: [],
  };
  let listModules = false;
  let output: 'human' | 'json' = 'human';

  for (let i = 0; i < argv.length; i++) {
    const raw = argv[i]!;
    if (!raw.startsWith('-')) {
      addDrive(m, { file: raw, media: 'disk', index: nextIndex(m), origin: raw }); // a bare disk_image is hda
      continue;
    }
    // `--opt` is `-opt`; `-opt=value` is `-opt value` (QEMU accepts both for long options).
    let name = raw.startsWith('--') ? raw.slice(1) : raw;
    let value: string | undefined;
    const eq = name.indexOf('=');
    if (eq > 0) [name, value] = [name.slice(0, eq), name.slice(eq + 1)];
    if (!WITH_ARGUMENT.has(name) && !FLAGS.has(name)) throw new OptionError(raw, undefined, 'invalid option');
    if (WITH_ARGUMENT.has(name) && value === undefined) {
      value = argv[++i];
      if (value === undefined) throw new OptionError(name, undefined, 'requires an argument');
    }
    const fail = (message: string): never => {
      throw new OptionError(name, value, message);
    };
    const attempt = <T>(f: () => T): T => {
      try {
        return f();
      } catch (error) {
        return fail((error as Error).message);
      }
    };
    const arg = value!;
    switch (name) {
      case '-m': {
        const size = parseKeyValues(arg, 'size').get('size') ?? '';
        m.memoryBytes = attempt(() => parseMemorySize(size));
        if (m.memoryBytes < 2 ** 20) fail('memory size must be at least 1 MiB');
        if (m.memoryBytes > MAX_MEMORY) fail(`ram size too large: this machine has at most ${MAX_MEMORY / 2 ** 30} GiB of RAM (v86 addresses 32 bits, its PCI memory sits above), use -m ${MAX_MEMORY / 2 ** 30}G or less`);
        break;
      }
      case '-kernel': m.kernel = arg; break;
      case '-initrd': m.initrd = arg; break;
      case '-append': m.append = arg; break;
      case '-bios': m.bios = arg; break;
      case '-hda': addDrive(m, { file: arg, media: 'disk', index: 0, origin: `-hda ${arg}` }); break;
      case '-hdb': addDrive(m, { file: arg, media: 'disk', index: 1, origin: `-hdb ${arg}` }); break;
      case '-cdrom': addDrive(m, { file: arg, media: 'cdrom', index: 2, origin: `-cdrom ${arg}` }); break;
      case '-drive': m.drives.push(attempt(() => parseDrive(arg, m))); break;
      case '-object': m.secrets.push(attempt(() => parseSecretObject(arg, m.secrets))); break;
      case '-boot': {
        const order = parseKeyValues(arg, 'order').get('order') ?? '';
        const bad = [...order].find((c) => !'acdn'.includes(c));
        if (bad !== undefined || order === '') throw new OptionError(undefined, undefined, `Invalid boot device '${bad ?? ''}'`);
        m.bootOrder = order;
        break;
      }
      case '-qmp': attempt(() => m.monitors.qmp(arg)); break;
      case '-monitor': attempt(() => m.monitors.monitor(arg)); break;
      case '-chardev': attempt(() => m.monitors.chardev(arg)); break;
      case '-mon': attempt(() => m.monitors.mon(arg)); break;
      case '-serial':
        if (m.serial !== undefined) fail('this machine has one serial port (COM1): give -serial once');
        m.serial = attempt(() => parseSerial(arg));
        if (m.serial.kind === 'stdio' && m.serial.monitor) m.monitors.serialMux();
        break;
      // QEMU's everyday options: each parsed in src/cli/options/, kept here as one line apiece.
      case '-fda': case '-fdb': m.drives.push(attempt(() => parseFloppyShorthand(arg, name === '-fda' ? 0 : 1, m.drives))); break;
      case '-name': Object.assign(m, attempt(() => parseName(arg))); break;
      case '-pidfile': m.pidfile = arg; break;
      case '-daemonize': m.daemonize = true; break;
      case '-S': m.startPaused = true; break;
      case '-no-reboot': m.noReboot = true; break;
      case '-no-shutdown': m.noShutdown = true; break;
      case '-nodefaults': m.nodefaults = true; break;
      case '-vga': attempt(() => checkVga(arg)); break;
      case '-machine': case '-M': {
        const machine = attempt(() => checkMachine(arg));
        if (machine === 'help') return { kind: 'print', text: MACHINE_HELP };
        if (machine.acpi !== undefined) m.acpi = machine.acpi;
        break;
      }
      case '-no-acpi': m.acpi = false; break; // QEMU 7.2's spelling of -machine acpi=off (the default here)
      case '-smp': attempt(() => checkSmp(arg)); break;
      case '-cpu': {
        const cpu = attempt(() => checkCpu(arg));
        if (cpu.help) return { kind: 'print', text: CPU_HELP };
        if (cpu.warning) m.warnings.push(`${name} ${arg}: warning: ${cpu.warning}`);
        break;
      }
      case '-display': {
        const kv = parseKeyValues(arg, 'type');
        const type = kv.get('type') ?? '';
        if (!/^[a-z][a-z0-9-]*$/.test(type)) fail(`Parameter 'type' does not accept value '${type}'`);
        kv.delete('type');
        m.display = { type, options: Object.fromEntries(kv), origin: `${name} ${arg}` };
        break;
      }
      case '-netdev': {
        const kv = parseKeyValues(arg, 'type');
        const type = kv.get('type') ?? '';
        const id = kv.get('id');
        if (!/^[a-z][a-z0-9-]*$/.test(type)) fail(`Parameter 'type' does not accept value '${type}'`);
        if (!id) fail("Parameter 'id' is missing");
        attempt(() => refuseUserNetworking(type));
        if (m.netdevs.some((n) => n.id === id)) fail(`Duplicate ID '${id}' for netdev`);
        kv.delete('type');
        kv.delete('id');
        m.netdevs.push({ id: id!, type, options: Object.fromEntries(kv), origin: `${name} ${arg}` });
        break;
      }
      case '-device': {
        const kv = parseKeyValues(arg, 'driver');
        const model = kv.get('driver') ?? '';
        if (!NIC_MODELS.includes(model)) fail(`'${model}' is not a valid device model name`);
        const netdev = kv.get('netdev');
        for (const key of kv.keys()) {
          if (!['driver', 'netdev', 'mac'].includes(key)) fail(`Property '${model}.${key}' not found`);
        }
        if (!netdev) fail(`Property '${model}.netdev' is required`);
        const mac = attempt(() => parseMacProperty(kv.get('mac'), model));
        m.nics.push({ model, netdev: netdev!, ...(mac ? { mac } : {}), origin: `${name} ${arg}` });
        break;
      }
      case '-nic': {
        // `-nic TYPE,...` is a netdev plus a NIC in one: QEMU's shorthand.
        const kv = parseKeyValues(arg, 'type');
        const type = kv.get('type') ?? '';
        const model = kv.get('model') ?? 'ne2k_pci';
        if (type === 'none') break; // `-nic none`: no network
        attempt(() => refuseUserNetworking(type));
        if (!/^[a-z][a-z0-9-]*$/.test(type)) fail(`Parameter 'type' does not accept value '${type}'`);
        if (!NIC_MODELS.includes(model)) fail(`'${model}' is not a valid device model name`);
        const mac = attempt(() => parseMacProperty(kv.get('mac'), model));
        for (const k of ['type', 'model', 'id', 'mac']) kv.delete(k);
        const id = `__nic${m.nics.length}`;
        m.netdevs.push({ id, type, options: Object.fromEntries(kv), origin: `${name} ${arg}` });
        m.nics.push({ model, netdev: id, ...(mac ? { mac } : {}), origin: `${name} ${arg}` });
        break;
      }
      case '-output':
        if (arg !== 'human' && arg !== 'json') fail(`'${arg}' is not a valid output format (human or json)`);
        output = arg as 'human' | 'json';
        break;
      case '-nographic': m.nographic = true; break;
      case '-snapshot': m.snapshot = true; break;
      case '-list-modules': listModules = true; break;
      case '-version': return { kind: 'version' };
      case '-help':
      case '-h': return { kind: 'help' };
    }
  }
  if (listModules) return { kind: 'list-modules', output };
  return { kind: 'run', machine: finish(m) };
}

/** A NIC's `mac=` (six hex bytes with colons), with QEMU's error text. */
function parseMacProperty(text: string | undefined, model: string): Uint8Array | undefined {
  if (text === undefined) return undefined;
  if (!/^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$/.test(text)) throw new Error(`Property '${model}.mac' doesn't take value '${text}'`);
  return Uint8Array.from(text.split(':').map((h) => parseInt(h, 16)));
}

function nextIndex(m: Mutable): number {
  let index = 0;
  while (m.drives.some((d) => d.interface === undefined && d.index === index)) index++;
  return index;
}

function addDrive(m: Mutable, drive: { file: string; media: 'disk' | 'cdrom'; index: number; origin: string }): void {
  if (m.drives.some((d) => d.interface === undefined && d.index === drive.index)) {
    throw new OptionError(undefined, undefined, `drive with bus=0, unit=${drive.index} (index=${drive.index}) exists`);
  }
  m.drives.push({ ...drive, readOnly: drive.media === 'cdrom', snapshot: false, fileOptions: {} });
}

function parseDrive(argument: string, m: Mutable): DriveConfig {
  const kv = parseKeyValues(argument);
  const fileOptions: Record<string, string> = {};
  const formatOptions: Record<string, string> = {};
  for (const key of kv.keys()) {
    if (key.startsWith('file.')) fileOptions[key.slice(5)] = kv.get(key)!;
    else if (DRIVE_FORMAT_KEYS.has(key)) formatOptions[key] = kv.get(key)!;
    else if (!DRIVE_KEYS.has(key)) throw new Error(`Invalid parameter '${key}'`);
  }
  const file = kv.get('file');
  if (!file) throw new Error('A block device must be specified for "file"');
  const bus = kv.get('if') ?? 'ide';
  if (bus === 'floppy') return floppyDrive(kv, argument, m.drives);
  if (bus !== 'ide') throw new Error(`unsupported bus type '${bus}'`);
  if (kv.has('unit')) throw new Error("Invalid parameter 'unit'");
  const media = kv.get('media') ?? 'disk';
  if (media !== 'disk' && media !== 'cdrom') throw new Error(`'${media}' invalid media`);
  const readOnlyText = kv.get('readonly') ?? kv.get('read-only');
  const readOnly = readOnlyText === undefined ? media === 'cdrom' : parseOnOff(readOnlyText, 'read-only');
  const snapshot = parseOnOff(kv.get('snapshot') ?? 'off', 'snapshot');
  const indexText = kv.get('index');
  const index = indexText === undefined ? (media === 'cdrom' ? 2 : nextIndex(m)) : Number(indexText);
  if (!Number.isInteger(index) || index < 0 || index > 3) throw new Error(`index ${indexText} is out of range (0-3 for IDE)`);
  if (m.drives.some((d) => d.interface === undefined && d.index === index)) throw new Error(`drive with bus=${index >> 1}, unit=${index & 1} (index=${index}) exists`);
  const format = kv.get('format');
  return { file, ...(format ? { format } : {}), media, index, readOnly, snapshot, fileOptions, formatOptions, origin: `-drive ${argument}` };
}

function finish(m: Mutable): MachineConfig {
  if (m.append !== undefined && m.kernel === undefined) throw new OptionError(undefined, undefined, '-append only allowed with -kernel option');
  if (m.initrd !== undefined && m.kernel === undefined) throw new OptionError(undefined, undefined, '-initrd only allowed with -kernel option');
  for (const nic of m.nics) {
    if (!m.netdevs.some((n) => n.id === nic.netdev)) {
      const [option, ...rest] = nic.origin.split(' ');
      throw new OptionError(option, rest.join(' '), `Property '${nic.model}.netdev' can't find value '${nic.netdev}'`);
    }
  }
  const display = m.display ?? { type: 'none', options: {}, origin: '-display none' };
  if (m.nographic && display.type !== 'none') throw new OptionError(undefined, undefined, '-nographic cannot be used with -display');
  // As QEMU: -nographic puts the human monitor on the terminal with COM1 (Ctrl-a c) unless told otherwise.
  // -nodefaults: no default monitor either (as QEMU).
  if (m.nographic && m.serial === undefined && !m.nodefaults) m.monitors.nographicDefault();
  let monitors;
  try {
    monitors = m.monitors.resolve();
  } catch (error) {
    const [option, ...rest] = ((error as { origin?: string }).origin ?? '').split(' ');
    throw new OptionError(option || undefined, rest.length > 0 ? rest.join(' ') : undefined, (error as Error).message);
  }
  // A monitor alone on stdio takes the terminal: COM1 goes nowhere unless asked for, and then it is QEMU's error.
  const plainStdio = monitors.find((mon) => mon.endpoint.kind === 'stdio');
  if (plainStdio && m.serial?.kind === 'stdio') throw new OptionError('-serial', 'stdio', 'cannot use stdio by multiple character devices');
  if (plainStdio && m.serial === undefined) m.serial = { kind: 'none' };
  if (monitors.some((mon) => mon.endpoint.kind === 'mux-stdio')) m.serial = { kind: 'stdio', monitor: true };
  checkDaemonize(m);
  return {
    memoryBytes: m.memoryBytes,
    ...(m.kernel !== undefined ? { kernel: m.kernel } : {}),
    ...(m.initrd !== undefined ? { initrd: m.initrd } : {}),
    ...(m.append !== undefined ? { append: m.append } : {}),
    ...(m.bios !== undefined ? { bios: m.bios } : {}),
    drives: m.drives.map((d) => (m.snapshot ? { ...d, snapshot: true } : d)),
    bootOrder: m.bootOrder ?? defaultBootOrder(m.drives),
    // QEMU's default serial is its graphical console; here stdio, unless nothing may own the terminal.
    serial: m.serial ?? { kind: m.nodefaults || m.daemonize ? 'none' : 'stdio' },
    display,
    netdevs: m.netdevs,
    nics: m.nics,
    monitors,
    nodefaults: m.nodefaults,
    acpi: m.acpi,
    warnings: m.warnings,
    secrets: m.secrets,
    process: {
      ...(m.name !== undefined ? { name: m.name } : {}),
      ...(m.processName !== undefined ? { processName: m.processName } : {}),
      ...(m.pidfile !== undefined ? { pidfile: m.pidfile } : {}),
      daemonize: m.daemonize,
      startPaused: m.startPaused,
      noReboot: m.noReboot,
      noShutdown: m.noShutdown,
    },
  };
}

/** QEMU's rules for -daemonize: nothing may use the terminal the parent leaves. */
function checkDaemonize(m: Mutable): void {
  if (!m.daemonize) return;
  // -nographic's default serial and monitor would be on stdio; with -nodefaults there are none (as QEMU).
  if (m.nographic && !m.nodefaults) throw new OptionError(undefined, undefined, '-nographic cannot be used with -daemonize');
  if (m.serial?.kind === 'stdio') throw new OptionError('-serial', m.serial.monitor ? 'mon:stdio' : 'stdio', 'cannot use stdio with -daemonize');
}

/** Without -boot: a hard disk first; a machine with only a CD-ROM or only a floppy boots from it. */
function defaultBootOrder(drives: readonly DriveConfig[]): string {
  const ide = drives.filter((d) => d.interface === undefined);
  if (ide.some((d) => d.media === 'disk')) return 'c';
  if (ide.some((d) => d.media === 'cdrom')) return 'd';
  return drives.length > 0 ? 'a' : 'c';
}
