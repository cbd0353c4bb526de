import { writeFile } from 'node:fs/promises';
import type { Host } from '@tessera/core';
import { Framebuffer } from '../console/framebuffer.ts';
import { closeDrives, READ_ONLY_DEVICE, type OpenDrive } from '../disk/open-drives.ts';
import { V86Disk } from '../disk/v86-disk.ts';
import type { RunState } from '../machine-options/run-state.ts';
import type { V86Emulator, VgaLayer } from '../machine/v86-internals.ts';
import { encodePng, encodePpm, type RgbImage } from './image-encode.ts';
import { MonitorError, type BlockDeviceInfo, type MachineControl, type ShutdownReason } from './machine-control.ts';
import { renderTextMode, type VgaTextState } from './text-mode-render.ts';

/** The parts of v86 0.5.462 beyond machine/v86-internals.ts that the monitors use. */
interface MonitoredV86 {
  is_running(): boolean;
  restart(): void;
  v86: {
    cpu: {
      reboot_internal(): void;
      devices: {
        vga?: VgaTextState & { graphical_mode: boolean; complete_redraw(): void; screen_fill_buffer(): void };
        cdrom?: { set_cdrom(disk: V86Disk): void; eject(): void; has_disk(): boolean };
      };
    };
  };
}

/** QEMU's device names and qdev paths for v86's IDE slots (a pc machine with the same drives). */
const DEVICES = {
  hda: { device: 'ide0-hd0', qdev: '/machine/unattached/device[22]' },
  hdb: { device: 'ide0-hd1', qdev: '/machine/unattached/device[24]' },
  cdrom: { device: 'ide1-cd0', qdev: '/machine/unattached/device[23]' },
} as const;

const STRERROR: Record<string, string> = {
  ENOENT: 'No such file or directory',
  EACCES: 'Permission denied',
  EISDIR: 'Is a directory',
  ENOTDIR: 'Not a directory',
  EROFS: 'Read-only file system',
  ENOSPC: 'No space left on device',
  EPERM: 'Operation not permitted',
};

export interface V86ControlOptions {
  readonly host: Host;
  readonly emulator: V86Emulator;
  /** The machine's open drives; changing the CD-ROM's medium replaces its entry (closed at exit with the rest). */
  readonly drives: OpenDrive[];
  readonly name: string | undefined;
  /** The machine's run state (the CPU runs and stops only through it). */
  readonly runState: RunState;
  /** -no-reboot: resets become shutdowns (`requestShutdown`), guest resets send no RESET. */
  readonly noReboot: boolean;
  /** The ACPI power button (machine/acpi.ts). */
  readonly pressPowerButton: () => void;
  readonly requestShutdown: (reason: ShutdownReason) => void;
  /** End the emulator as `quit` does (exit 0). */
  readonly quit: () => void;
  /** Guest I/O errors on a newly inserted medium. */
  readonly onIoError: (error: Error) => void;
}

/** MachineControl on a v86 machine. */
export class V86Control implements MachineControl {
  readonly name: string | undefined;
  readonly runState: RunState;
  private readonly emulator: MonitoredV86 & V86Emulator;
  private trayOpen = false;
  private hostReset = false;
  private readonly resetListeners: (() => void)[] = [];
  private readonly trayListeners: ((device: string, qdev: string, open: boolean) => void)[] = [];
  private screenSize = { width: 0, height: 0 };

  constructor(private readonly options: V86ControlOptions) {
    this.name = options.name;
    this.runState = options.runState;
    this.emulator = options.emulator as MonitoredV86 & V86Emulator;
    this.emulator.add_listener('screen-set-size', ([width, height]: [number, number, number]) => (this.screenSize = { width, height }));
    // Guest reboots (keyboard controller, triple fault) go through reboot_internal too: tell them apart.
    const cpu = this.emulator.v86.cpu;
    const reboot = cpu.reboot_internal.bind(cpu);
    cpu.reboot_internal = () => {
      reboot();
      if (!this.hostReset && !options.noReboot) for (const listener of this.resetListeners) listener();
    };
  }

  reset(): 'reset' | 'shutdown' {
    if (this.options.noReboot) {
      this.options.requestShutdown('host-qmp-system-reset');
      return 'shutdown';
    }
    this.hostReset = true;
    try {
      this.emulator.restart();
    } finally {
      this.hostReset = false;
    }
    this.runState.afterReset();
    return 'reset';
  }

  powerdown(): void {
    // As QEMU: the guest sees the press only if it listens (ACPI on, PWRBTN_EN set by its OS);
    // the POWERDOWN event is sent either way.
    this.options.pressPowerButton();
  }

  quit(): void {
    this.options.quit();
  }

  onGuestReset(listener: () => void): void {
    this.resetListeners.push(listener);
  }

  onTrayMoved(listener: (device: string, qdev: string, open: boolean) => void): void {
    this.trayListeners.push(listener);
  }

  private moveTray(open: boolean): void {
    if (this.trayOpen === open) return;
    this.trayOpen = open;
    for (const listener of this.trayListeners) listener(DEVICES.cdrom.device, DEVICES.cdrom.qdev, open);
  }

  async screendump(filename: string, format: 'ppm' | 'png'): Promise<void> {
    const image = this.captureScreen();
    const bytes = format === 'png' ? encodePng(image) : encodePpm(image);
    try {
      await writeFile(filename, bytes);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? '';
      throw new MonitorError('GenericError', `failed to open file '${filename}': ${STRERROR[code] ?? (error as Error).message}`);
    }
  }

  async blockDevices(): Promise<BlockDeviceInfo[]> {
    const result: BlockDeviceInfo[] = [];
    for (const slot of ['hda', 'hdb', 'cdrom'] as const) {
      const drive = this.options.drives.find((d) => d.slot === slot);
      if (!drive && slot !== 'cdrom') continue; // v86 always has the CD-ROM drive, as QEMU's pc machine
      const removable = slot === 'cdrom';
      let medium: BlockDeviceInfo['medium'];
      if (drive) {
        const actualSize = await drive.node.child?.allocatedSize?.().catch(() => undefined);
        medium = {
          filename: drive.node.filename,
          format: drive.node.driver,
          readOnly: drive.node.readOnly,
          virtualSize: drive.node.size,
          ...(actualSize !== undefined ? { actualSize } : {}),
          nodeName: `#block${this.options.drives.indexOf(drive) + 1}`,
        };
      }
      result.push({ ...DEVICES[slot], removable, ...(removable ? { trayOpen: this.trayOpen } : {}), ...(medium ? { medium } : {}) });
    }
    return result;
  }

  async eject(device: string, _force: boolean): Promise<void> {
    this.removableDevice(device);
    this.moveTray(true);
    const index = this.options.drives.findIndex((d) => d.slot === 'cdrom');
    if (index < 0) return;
    const [old] = this.options.drives.splice(index, 1);
    this.emulator.v86.cpu.devices.cdrom?.eject();
    await closeDrives([old!]);
  }

  async changeMedium(device: string, filename: string, format: string | undefined, readOnlyMode: string | undefined): Promise<void> {
    this.removableDevice(device);
    if (readOnlyMode !== undefined && readOnlyMode !== 'retain' && readOnlyMode !== 'read-only') {
      throw new MonitorError('GenericError', readOnlyMode === 'read-write' ? 'The CD-ROM is read-only: read-only-mode=read-write is not possible' : `Parameter 'read-only-mode' does not accept value '${readOnlyMode}'`);
    }
    let node;
    try {
      node = await this.options.host.block.open(filename, {
        ...(format !== undefined ? { format } : {}),
        readOnly: true,
        permissions: READ_ONLY_DEVICE,
        snapshot: false,
        fileOptions: {},
      });
    } catch (error) {
      throw new MonitorError('GenericError', (error as Error).message);
    }
    await this.eject(device, true);
    const origin = `${DEVICES.cdrom.device} ${filename}`;
    const disk = new V86Disk(node, (error) => this.options.onIoError(new Error(`${origin}: ${error.message}`, { cause: error })));
    this.options.drives.push({
      config: { file: filename, ...(format ? { format } : {}), media: 'cdrom', index: 2, readOnly: true, snapshot: false, fileOptions: {}, origin },
      slot: 'cdrom',
      node,
      disk,
    });
    this.emulator.v86.cpu.devices.cdrom?.set_cdrom(disk);
    this.moveTray(false);
  }

  /** Only the CD-ROM takes media; anything else is QEMU's DeviceNotFound or "not removable". */
  private removableDevice(device: string): void {
    const known = Object.entries(DEVICES).find(([slot, d]) => d.device === device && (slot === 'cdrom' || this.options.drives.some((x) => x.slot === slot)));
    if (!known) throw new MonitorError('DeviceNotFound', `Device '${device}' not found`);
    if (known[0] !== 'cdrom') throw new MonitorError('GenericError', `Device '${device}' is not removable`);
  }

  private captureScreen(): RgbImage {
    const vga = this.emulator.v86.cpu.devices.vga;
    if (!vga) throw new MonitorError('GenericError', 'There is no console to take a screendump from.');
    if (!vga.graphical_mode) return renderTextMode(vga);
    // Graphics: have the VGA hand over the whole frame once, into a framebuffer of our own.
    const framebuffer = new Framebuffer();
    framebuffer.resize(this.screenSize.width, this.screenSize.height);
    const adapter = this.emulator.screen_adapter;
    const previous = adapter.update_buffer;
    adapter.update_buffer = (layers: readonly VgaLayer[]) => {
      framebuffer.draw(layers);
      previous.call(adapter, layers);
    };
    try {
      vga.complete_redraw();
      vga.screen_fill_buffer();
    } finally {
      adapter.update_buffer = previous;
    }
    const rgb = new Uint8Array(framebuffer.width * framebuffer.height * 3);
    for (let i = 0, o = 0; o < rgb.length; i += 4, o += 3) rgb.set(framebuffer.rgba.subarray(i, i + 3), o);
    return { width: framebuffer.width, height: framebuffer.height, rgb };
  }
}
