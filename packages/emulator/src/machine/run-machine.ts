import type { DisplaySession, Host } from '@tessera/core';
import { findDisplay } from '../console/open-display.ts';
import { installImageDataPolyfill } from '../console/image-data-polyfill.ts';
import { V86MachineConsole } from '../console/machine-console.ts';
import { closeDrives, openDrives, type OpenDrive } from '../disk/open-drives.ts';
import { setFloppyReadOnly } from '../machine-options/floppy.ts';
import { interceptGuestReset } from '../machine-options/guest-reset.ts';
import { RunState } from '../machine-options/run-state.ts';
import { openNics, type OpenNic } from '../net/attach-nics.ts';
import { serialFilename } from '../serial/chardev-name.ts';
import { openSerial } from '../serial/open-serial.ts';
import type { SerialPort } from '../serial/serial-port.ts';
import { defaultMac, setNicMac } from '../net/nic-mac.ts';
import { loadBootFiles, v86BootOrder } from './boot-files.ts';
import type { MachineConfig } from './config.ts';
import { startMonitors, type RunningMonitors } from '../monitor/start-monitors.ts';
import { V86Control } from '../monitor/v86-control.ts';
import type { ShutdownReason } from '../monitor/machine-control.ts';
import { loadFirmware } from './firmware.ts';
import { catchEngineFailures, engineFailureMessage } from './engine-failure.ts';
import { loadV86 } from './load-v86.ts';
import { attachAcpiEvents } from './acpi.ts';
import { watchForPowerOff } from './power-off.ts';
import { refuseWrites } from './read-only-ide.ts';
import { failRefusedDmaWrites } from './refused-write-ide.ts';
import { StartupError } from './startup-error.ts';
import type { V86Constructor, V86Emulator } from './v86-internals.ts';

/** Why the machine stopped. */
type Ending = { kind: 'poweroff' } | { kind: 'reset' } | { kind: 'quit' } | { kind: 'monitor-quit' } | { kind: 'signal'; signal: NodeJS.Signals } | { kind: 'error'; error: Error };

const SIGNAL_NUMBERS: Partial<Record<NodeJS.Signals, number>> = { SIGINT: 2, SIGTERM: 15, SIGHUP: 1 };

export interface MachineHooks {
  /** The machine is set up and its CPU runs (or waits for `cont` under -S): -daemonize's parent may exit now, the monitor gets the run state. */
  readonly onStarted?: (state: RunState) => void;
}

/**
 * Set up the machine, run it until it powers off or the user quits, tear it down. Resolves with
 * the exit code; StartupError (or an OptionError-like message) is thrown for setup failures.
 */
export async function runMachine(host: Host, machine: MachineConfig, hooks: MachineHooks = {}): Promise<number> {
  for (const subsystem of ['block', 'ui', 'net'] as const) host.initialize(subsystem);
  const firmware = await loadFirmware(machine.bios);
  const bootFiles = await loadBootFiles(machine);
  const displayBackend = await findDisplay(host, machine.display);

  let ending: (end: Ending) => void = () => {};
  const ended = new Promise<Ending>((resolve) => (ending = resolve));
  const nics = await openNics(host, machine);
  let drives: OpenDrive[] = [];
  for (const secret of machine.secrets ?? []) host.block.defineSecret(secret.id, secret.value);
  try {
    drives = await openDrives(host, machine.drives, (error) => ending({ kind: 'error', error: new Error(`disk I/O error: ${error.message}`, { cause: error }) }));
  } catch (error) {
    await closeNics(nics);
    throw error;
  }
  // COM1's backend is opened before the guest exists; its input reaches the guest once it does.
  let toGuest: (data: Uint8Array) => void = () => {};
  let switchFocus: () => void = () => {};
  // What is typed before the machine and its monitor are up (piped input, say) waits for them, in order.
  let early: (() => void)[] | undefined = [];
  const whenUp = (action: () => void) => (early ? early.push(action) : action());
  let serial: SerialPort | undefined;
  try {
    serial = await openSerial(machine.serial, {
      toGuest: (data) => whenUp(() => toGuest(data)),
      onQuit: () => ending({ kind: 'quit' }),
      // Ctrl-a c is offered only where the monitor shares the terminal.
      ...(machine.serial.kind === 'stdio' && machine.serial.monitor ? { onSwitch: () => whenUp(() => switchFocus()) } : {}),
    });
  } catch (error) {
    await closeNics(nics);
    await closeDrives(drives).catch(() => {});
    throw new StartupError((error as Error).message, { cause: error });
  }

  const { V86, wasmPath, wasmFn } = await loadV86().catch(async (error: Error) => {
    await serial?.close().catch(() => {});
    await closeNics(nics);
    await closeDrives(drives).catch(() => {});
    throw new StartupError(`could not load the emulator engine: ${error.message}`, { cause: error });
  });
  // A monitor's screendump of a graphics screen needs the VGA's framebuffer too.
  if (displayBackend || machine.monitors.length > 0) installImageDataPolyfill();
  const slot = (name: string) => drives.find((d) => d.slot === name)?.disk;
  // v86 runs the guest from timers: an internal error of the engine would reach Node's top level
  // (a stack trace, exit 7). Caught here, it stops the machine with the guest's state instead.
  let running: V86Emulator | undefined;
  const engineFailures = catchEngineFailures((error) => {
    if (!running) return; // while starting: reported by the start-up race below
    ending({ kind: 'error', error: new Error(engineFailureMessage(error, running.v86.cpu), { cause: error }) });
  });
  const startFailed = async (error: Error): Promise<never> => {
    engineFailures.dispose();
    await serial?.close().catch(() => {});
    await closeNics(nics);
    await closeDrives(drives).catch(() => {});
    throw new StartupError(`the machine could not start: the emulator engine failed: ${error.message}`, { cause: error });
  };
  const emulator = newEmulator(V86, {
    wasm_path: wasmPath,
    wasm_fn: wasmFn,
    bios: { buffer: firmware.bios },
    vga_bios: { buffer: firmware.vgaBios },
    memory_size: machine.memoryBytes,
    ...(bootFiles.kernel ? { bzimage: { buffer: bootFiles.kernel } } : {}),
    ...(bootFiles.initrd ? { initrd: { buffer: bootFiles.initrd } } : {}),
    ...(machine.append !== undefined ? { cmdline: machine.append } : {}),
    ...(slot('hda') ? { hda: slot('hda') } : {}),
    ...(slot('hdb') ? { hdb: slot('hdb') } : {}),
    ...(slot('cdrom') ? { cdrom: slot('cdrom') } : {}),
    ...(slot('fda') ? { fda: slot('fda') } : {}),
    ...(slot('fdb') ? { fdb: slot('fdb') } : {}),
    boot_order: v86BootOrder(machine.bootOrder),
    net_device: { type: 'ne2k' },
    autostart: false, // started once the devices are adjusted below
    disable_speaker: true,
    disable_mouse: true,
    acpi: machine.acpi,
  });
  if (emulator instanceof Error) return startFailed(emulator);
  const started = await Promise.race([
    new Promise<true>((resolve) => emulator.add_listener('emulator-loaded', () => resolve(true))),
    engineFailures.first,
  ]);
  if (started !== true) {
    await settleWithin(emulator.destroy());
    return startFailed(started);
  }
  running = emulator;
  prepareDevices(emulator, drives, machine.nics[0]?.mac ?? defaultMac(0));

  // The guest's ACPI soft-off (S5) is its power-off, as on QEMU (the halt watch below is for guests without ACPI).
  let onAcpiPowerOff = () => {};
  const acpi = attachAcpiEvents(emulator.v86.cpu, () => onAcpiPowerOff());

  const console = new V86MachineConsole(emulator, displayBackend !== undefined);
  const runState = new RunState(emulator);
  // A guest power-off, a guest reset under -no-reboot, system_reset under -no-reboot: SHUTDOWN at
  // once (as QEMU), then the end of the process, or under -no-shutdown the `shutdown` state.
  const requestShutdown = (reason: ShutdownReason, end: Ending) => {
    monitors?.actions.emitShutdown(reason);
    if (machine.process.noShutdown) void runState.shutdown();
    else ending(end);
  };
  // Before the monitors' control wraps reboot_internal, so that their wrapper sees -no-reboot's hook.
  if (machine.process.noReboot) interceptGuestReset(emulator.v86.cpu, () => requestShutdown('guest-reset', { kind: 'reset' }));
  let monitors: RunningMonitors | undefined;
  if (machine.monitors.length > 0) {
    const control = new V86Control({
      host, emulator, drives, runState,
      name: machine.process.name,
      noReboot: machine.process.noReboot,
      pressPowerButton: () => acpi.pressPowerButton(),
      requestShutdown: (reason) => requestShutdown(reason, { kind: 'reset' }),
      quit: () => ending({ kind: 'monitor-quit' }),
      onIoError: (error) => ending({ kind: 'error', error: new Error(`disk I/O error: ${error.message}`, { cause: error }) }),
    });
    monitors = await startMonitors(machine.monitors, control, { filename: serialFilename(machine.serial) }).catch(async (error: Error) => {
      engineFailures.dispose();
      await settleWithin(emulator.destroy());
      await serial?.close().catch(() => {});
      await closeNics(nics);
      await closeDrives(drives).catch(() => {});
      throw new StartupError(error.message, { cause: error });
    });
  }
  const mux = monitors?.mux;
  const sendToGuest = (data: Uint8Array) => console.sendSerialInput(data);
  // -serial mon:stdio: what is typed goes to COM1 or to the monitor, whichever has the terminal.
  toGuest = mux ? (data) => mux.fromTerminal(data, sendToGuest) : sendToGuest;
  switchFocus = () => mux?.switchFocus();
  for (const action of early.splice(0)) action();
  early = undefined;
  if (serial) emulator.add_listener('serial0-output-byte', (byte: number) => serial.output(byte));
  for (const nic of nics) {
    emulator.add_listener(`net${nic.index}-send`, (frame: Uint8Array) => nic.port.send(frame));
    nic.port.onReceive((frame) => emulator.bus.send(`net${nic.index}-receive`, frame));
  }
  const onSignal = (signal: NodeJS.Signals) => ending({ kind: 'signal', signal });
  for (const signal of Object.keys(SIGNAL_NUMBERS) as NodeJS.Signals[]) process.on(signal, onSignal);

  let session: DisplaySession | undefined;
  // -no-shutdown: a power-off stops the CPU and the process stays (for the monitor, or a signal).
  const onPowerOff = () => requestShutdown('guest-shutdown', { kind: 'poweroff' });
  onAcpiPowerOff = onPowerOff;
  // Only a running CPU can power off: a stopped one may sit in `cli; hlt` for as long as it likes.
  const stopWatching = watchForPowerOff(emulator.v86.cpu, () => runState.running, onPowerOff);
  try {
    if (displayBackend) {
      session = await displayBackend.open(console, machine.display.options);
      if (session.message) process.stderr.write(`${session.message}\n`);
    }
    if (!machine.process.startPaused) await runState.resume(); // -S: prelaunch until `cont`
    hooks.onStarted?.(runState);
  } catch (error) {
    ending({ kind: 'error', error: error as Error });
  }

  // A stopped CPU (-S, -no-shutdown) leaves nothing pending in Node: the process must stay until told.
  const keepAlive = setInterval(() => {}, 2 ** 30);
  const end = await ended;
  clearInterval(keepAlive);
  engineFailures.dispose();
  stopWatching();
  // QEMU's reasons; Ctrl-a x is `host-qmp-quit` there too.
  // (A power-off, a -no-reboot reset and `quit` sent theirs when asked for.)
  const alreadySent = end.kind === 'poweroff' || end.kind === 'reset' || end.kind === 'monitor-quit';
  await monitors?.shutdown(alreadySent ? undefined : end.kind === 'error' ? 'host-error' : end.kind === 'signal' ? 'host-signal' : 'host-qmp-quit');
  for (const signal of Object.keys(SIGNAL_NUMBERS) as NodeJS.Signals[]) process.off(signal, onSignal);
  // After a failure v86's main loop may never come round to stop: do not wait for it long.
  if (end.kind === 'error') await settleWithin(emulator.stop());
  else await emulator.stop().catch(() => {});
  await serial?.close();
  if (end.kind === 'quit') process.stderr.write('tessera: Terminated\n');
  if (end.kind === 'signal') process.stderr.write(`tessera: terminating on signal ${SIGNAL_NUMBERS[end.signal]}\n`);
  const failures: string[] = [];
  await session?.close().catch((error: Error) => failures.push(`display: ${error.message}`));
  console.close();
  await closeNics(nics);
  await closeDrives(drives).catch((error: Error) => failures.push(error.message));
  await settleWithin(emulator.destroy());
  if (end.kind === 'error') failures.unshift(end.error.message);
  for (const failure of failures) process.stderr.write(`tessera: ${failure}\n`);
  return failures.length > 0 ? 1 : 0;
}

/** v86 adjustments that must happen before the guest runs: read-only disks, refused DMA writes, NIC MACs. */
function prepareDevices(emulator: V86Emulator, drives: readonly OpenDrive[], mac: Uint8Array): void {
  const devices = emulator.v86.cpu.devices;
  for (const drive of drives) {
    if (drive.slot === 'cdrom') continue; // ATAPI has no write command in v86
    if (drive.slot === 'fda' || drive.slot === 'fdb') {
      drive.disk.byteLength = drive.disk.imageSize; // inserted: v86 has its geometry (machine-options/floppy.ts)
      if (drive.config.readOnly) setFloppyReadOnly(emulator.v86.cpu, drive.slot === 'fda' ? 0 : 1);
      continue;
    }
    const channel = devices.ide?.primary;
    const ide = drive.slot === 'hda' ? channel?.master : channel?.slave;
    if (!ide) throw new StartupError(`${drive.config.origin}: internal error: v86 has no IDE device for ${drive.slot}`);
    if (drive.config.readOnly) refuseWrites(ide);
    else failRefusedDmaWrites(ide);
  }
  // Deterministic like QEMU's, whether or not a netdev is attached (v86 always has the NE2000).
  if (devices.net) setNicMac(devices.net, mac);
}

async function closeNics(nics: readonly OpenNic[]): Promise<void> {
  await Promise.allSettled(nics.map((nic) => nic.port.close()));
}

/** The V86 instance, or the error its constructor threw (bad options, no memory for the guest's RAM). */
function newEmulator(V86: V86Constructor, options: Record<string, unknown>): V86Emulator | Error {
  try {
    return new V86(options);
  } catch (error) {
    return error instanceof Error ? error : new Error(String(error));
  }
}

/**
 * v86's stop() waits for its main loop to come round, which never happens once the engine has
 * failed: give it a moment, then go on (the process exits right after).
 */
async function settleWithin(promise: Promise<unknown>, ms = 1000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([promise.catch(() => {}), new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}
