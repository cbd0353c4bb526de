import type { RunStatus } from '../machine-options/run-state.ts';
import type { MonitorContext } from './context.ts';
import type { BlockDeviceInfo } from './machine-control.ts';
import { MonitorError } from './machine-control.ts';
import { monitorVersion } from './version.ts';

/** One human-monitor command: its argument summary and help line as QEMU prints them, and its action. */
interface HmpCommand {
  readonly names: readonly string[];
  readonly params: string;
  readonly help: string;
  /** Returns the output text (lines ending in \n); throws MonitorError for "Error: …". */
  run(context: MonitorContext, args: string[]): Promise<string> | string;
}

interface InfoCommand {
  readonly name: string;
  readonly help: string;
  run(context: MonitorContext): Promise<string> | string;
}

const INFO: readonly InfoCommand[] = [
  { name: 'block', help: 'show info of one block device or all block devices', run: async ({ actions }) => formatBlockInfo(await actions.machine.blockDevices()) },
  { name: 'chardev', help: 'show the character devices', run: (context) => context.chardevs().map((c) => `${c.label}: filename=${c.filename}\n`).join('') },
  { name: 'name', help: 'show the current VM name', run: ({ actions }) => (actions.machine.name !== undefined ? `${actions.machine.name}\n` : '') },
  { name: 'status', help: 'show the current VM status (running|paused)', run: ({ actions }) => vmStatus(actions.machine.runState.status) },
  {
    name: 'version',
    help: 'show the version of QEMU',
    run: () => {
      const v = monitorVersion();
      return `${v.qemu.major}.${v.qemu.minor}.${v.qemu.micro} (${v.package})\n`;
    },
  },
];

const COMMANDS: readonly HmpCommand[] = [
  { names: ['cont', 'c'], params: '', help: 'resume emulation', run: async ({ actions }) => (await actions.cont(), '') },
  {
    names: ['change'],
    params: 'device filename [format [read-only-mode]]',
    help: 'change a removable medium, optional format',
    run: async ({ actions }, args) => {
      const [device, filename, format, mode] = args;
      if (device === undefined) throw new UsageError('change', 'device');
      if (filename === undefined) throw new UsageError('change', 'filename');
      await actions.machine.changeMedium(device, filename, format, mode);
      return '';
    },
  },
  {
    names: ['eject'],
    params: '[-f] device',
    help: 'eject a removable medium (use -f to force it)',
    run: async ({ actions }, args) => {
      const force = args[0] === '-f';
      const device = force ? args[1] : args[0];
      if (device === undefined) throw new UsageError('eject', 'device');
      await actions.machine.eject(device, force);
      return '';
    },
  },
  { names: ['help', '?'], params: '[cmd]', help: 'show the help', run: (_context, args) => help(args[0]) },
  {
    names: ['info'],
    params: '[subcommand]',
    help: 'show various information about the system state',
    run: (context, args) => {
      if (args[0] === undefined) return INFO.map((i) => `info ${i.name}  -- ${i.help}\n`).join('');
      const info = INFO.find((i) => i.name === args[0]);
      if (!info) return `unknown command: 'info ${args[0]}'\n`;
      return info.run(context);
    },
  },
  { names: ['quit', 'q'], params: '', help: 'quit the emulator', run: ({ actions }) => (actions.quit(), '') },
  {
    names: ['screendump'],
    params: 'filename [-f format]',
    help: 'save screen to a file (format: ppm or png)',
    run: async ({ actions }, args) => {
      const filename = args[0];
      if (filename === undefined) throw new UsageError('screendump', 'filename');
      let format = 'ppm';
      if (args[1] === '-f') format = args[2] ?? '';
      if (format !== 'ppm' && format !== 'png') throw new MonitorError('GenericError', `Parameter 'format' does not accept value '${format}'`);
      await actions.machine.screendump(filename, format);
      return '';
    },
  },
  { names: ['stop', 's'], params: '', help: 'stop emulation', run: async ({ actions }) => (await actions.stop(), '') },
  { names: ['system_powerdown'], params: '', help: 'send system power down event', run: ({ actions }) => (actions.powerdown(), '') },
  { names: ['system_reset'], params: '', help: 'reset the system', run: ({ actions }) => (actions.reset(), '') },
];

/** A required argument is missing: QEMU's two-line answer. */
class UsageError extends Error {
  constructor(
    readonly command: string,
    readonly argument: string,
  ) {
    super(`${command}: ${argument} expected\nTry "help ${command}" for more information\n`);
  }
}

function help(name: string | undefined): string {
  const list = name === undefined ? COMMANDS : COMMANDS.filter((c) => c.names.includes(name));
  if (name !== undefined && name === 'info') return INFO.map((i) => `info ${i.name}  -- ${i.help}\n`).join('');
  return list.map((c) => `${c.names.join('|')} ${c.params} -- ${c.help}\n`).join('');
}

/** `info block`'s text, as QEMU 7.2 prints it. */
function formatBlockInfo(devices: readonly BlockDeviceInfo[]): string {
  return devices
    .map((d) => {
      const lines: string[] = [];
      const m = d.medium;
      if (m) lines.push(`${d.device} (${m.nodeName}): ${m.filename} (${m.format}${m.readOnly ? ', read-only' : ''})`);
      else lines.push(`${d.device}: [not inserted]`);
      lines.push(`    Attached to:      ${d.qdev}`);
      if (d.removable) lines.push(`    Removable device: not locked, tray ${d.trayOpen ? 'open' : 'closed'}`);
      if (m) lines.push('    Cache mode:       writeback');
      return lines.map((l) => `${l}\n`).join('');
    })
    .join('\n');
}

/** Split a command line into words; "double quotes" keep spaces, as QEMU's monitor reads file names. */
function words(line: string): string[] {
  const result: string[] = [];
  for (const match of line.matchAll(/"((?:[^"\\]|\\.)*)"|(\S+)/g)) result.push(match[1] !== undefined ? match[1].replace(/\\(.)/g, '$1') : match[2]!);
  return result;
}

/**
 * Run one human-monitor command line; returns its output with QEMU's \r\n line ends (as
 * `human-monitor-command` returns it and the terminal shows it).
 */
export async function executeHmp(context: MonitorContext, line: string): Promise<string> {
  const [name, ...args] = words(line);
  if (name === undefined) return '';
  const command = COMMANDS.find((c) => c.names.includes(name));
  let output: string;
  if (!command) output = `unknown command: '${name}'\n`;
  else {
    try {
      output = await command.run(context, args);
    } catch (error) {
      if (error instanceof UsageError) output = error.message;
      else if (error instanceof MonitorError) output = `Error: ${error.message}\n`;
      else throw error;
    }
  }
  return output.replace(/\r?\n/g, '\r\n');
}

/** QEMU's `info status`: `running`, `paused`, or `paused (prelaunch)` / `paused (shutdown)`. */
function vmStatus(status: RunStatus): string {
  if (status === 'running' || status === 'paused') return `VM status: ${status}\n`;
  return `VM status: paused (${status})\n`;
}
