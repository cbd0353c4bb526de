import type { MonitorContext } from './context.ts';
import { executeHmp } from './hmp.ts';
import type { BlockDeviceInfo } from './machine-control.ts';
import { MonitorError } from './machine-control.ts';
import { checkArguments, type ArgSpec } from './qmp-arguments.ts';
import { monitorVersion } from './version.ts';

interface QmpCommand {
  readonly args: ArgSpec;
  run(context: MonitorContext, args: Record<string, unknown>): Promise<unknown> | unknown;
}

/** The device a removable-media command names, by `device` (QEMU's `id` is the qdev id, none here). */
function mediumDevice(args: Record<string, unknown>): string {
  const device = (args.device ?? args.id) as string | undefined;
  if (device === undefined) throw new MonitorError('GenericError', "Need exactly one of 'device' and 'id'");
  if (args.id !== undefined) throw new MonitorError('DeviceNotFound', `Device '${String(args.id)}' not found`);
  return device;
}

/** A block device as QEMU's `query-block` returns it (BlockInfo). */
export function blockInfoJson(info: BlockDeviceInfo): Record<string, unknown> {
  const json: Record<string, unknown> = { device: info.device, qdev: info.qdev, locked: false, removable: info.removable, type: 'unknown', 'io-status': 'ok' };
  if (info.trayOpen !== undefined) json.tray_open = info.trayOpen;
  const m = info.medium;
  if (m) {
    json.inserted = {
      file: m.filename,
      'node-name': m.nodeName,
      ro: m.readOnly,
      drv: m.format,
      backing_file_depth: 0,
      encrypted: false,
      detect_zeroes: 'off',
      bps: 0, bps_rd: 0, bps_wr: 0, iops: 0, iops_rd: 0, iops_wr: 0,
      write_threshold: 0,
      cache: { writeback: true, direct: false, 'no-flush': false },
      image: {
        filename: m.filename,
        format: m.format,
        'virtual-size': m.virtualSize,
        ...(m.actualSize !== undefined ? { 'actual-size': m.actualSize } : {}),
        'dirty-flag': false,
      },
    };
  }
  return json;
}

const empty = {} as const;

/** QMP's commands, by name (qmp_capabilities is the session's own). */
export const QMP_COMMANDS: Readonly<Record<string, QmpCommand>> = {
  'query-status': {
    args: empty,
    run: ({ actions }) => {
      const status = actions.machine.runState.status;
      return { status, singlestep: false, running: status === 'running' };
    },
  },
  'query-version': { args: empty, run: () => monitorVersion() },
  'query-name': { args: empty, run: ({ actions }) => (actions.machine.name !== undefined ? { name: actions.machine.name } : {}) },
  'query-block': { args: empty, run: async ({ actions }) => (await actions.machine.blockDevices()).map(blockInfoJson) },
  'query-chardev': {
    args: empty,
    run: (context) => context.chardevs().map((c) => ({ label: c.label, filename: c.filename, 'frontend-open': c.frontendOpen })),
  },
  'query-commands': { args: empty, run: () => ['qmp_capabilities', ...Object.keys(QMP_COMMANDS)].map((name) => ({ name })) },
  stop: { args: empty, run: async ({ actions }) => (await actions.stop(), {}) },
  cont: { args: empty, run: async ({ actions }) => (await actions.cont(), {}) },
  system_reset: { args: empty, run: ({ actions }) => (actions.reset(), {}) },
  system_powerdown: { args: empty, run: ({ actions }) => (actions.powerdown(), {}) },
  quit: { args: empty, run: ({ actions }) => (actions.quit(), {}) },
  screendump: {
    args: { filename: { type: 'str' }, device: { type: 'str', optional: true }, head: { type: 'int', optional: true }, format: { type: 'str', optional: true } },
    run: async ({ actions }, args) => {
      const format = (args.format as string | undefined) ?? 'ppm';
      if (format !== 'ppm' && format !== 'png') throw new MonitorError('GenericError', `Parameter 'format' does not accept value '${format}'`);
      if (args.device !== undefined) throw new MonitorError('DeviceNotFound', `Device '${String(args.device)}' not found`);
      await actions.machine.screendump(args.filename as string, format);
      return {};
    },
  },
  eject: {
    args: { device: { type: 'str', optional: true }, id: { type: 'str', optional: true }, force: { type: 'bool', optional: true } },
    run: async ({ actions }, args) => (await actions.machine.eject(mediumDevice(args), args.force === true), {}),
  },
  'blockdev-change-medium': {
    args: {
      device: { type: 'str', optional: true },
      id: { type: 'str', optional: true },
      filename: { type: 'str' },
      format: { type: 'str', optional: true },
      'read-only-mode': { type: 'str', optional: true },
      force: { type: 'bool', optional: true },
    },
    run: async ({ actions }, args) => {
      await actions.machine.changeMedium(mediumDevice(args), args.filename as string, args.format as string | undefined, args['read-only-mode'] as string | undefined);
      return {};
    },
  },
  'human-monitor-command': {
    args: { 'command-line': { type: 'str' }, 'cpu-index': { type: 'int', optional: true } },
    run: (context, args) => executeHmp(context, args['command-line'] as string),
  },
};

/** Run one command by name; errors come back as MonitorError (CommandNotFound for unknown names). */
export async function executeQmp(context: MonitorContext, name: string, args: Record<string, unknown>): Promise<unknown> {
  const command = Object.hasOwn(QMP_COMMANDS, name) ? QMP_COMMANDS[name] : undefined;
  if (!command) throw new MonitorError('CommandNotFound', `The command ${name} has not been found`);
  checkArguments(args, command.args);
  return command.run(context, args);
}
