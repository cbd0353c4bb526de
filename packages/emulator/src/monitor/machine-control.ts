/** What the monitors (QMP and human) can see and do to the running machine. */
import type { RunState } from '../machine-options/run-state.ts';

/** QEMU's error classes that clients tell apart (`GenericError` for everything else). */
export type QmpErrorClass = 'GenericError' | 'CommandNotFound' | 'DeviceNotFound' | 'DeviceNotActive' | 'KVMMissingCap';

/** A command failed: the class and text QEMU would answer with. */
export class MonitorError extends Error {
  constructor(
    readonly errorClass: QmpErrorClass,
    message: string,
  ) {
    super(message);
    this.name = 'MonitorError';
  }
}

export interface BlockDeviceInfo {
  /** QEMU's device names: ide0-hd0, ide0-hd1, ide1-cd0. */
  readonly device: string;
  readonly removable: boolean;
  readonly qdev: string;
  readonly trayOpen?: boolean;
  readonly medium?: {
    readonly filename: string;
    readonly format: string;
    readonly readOnly: boolean;
    readonly virtualSize: number;
    readonly actualSize?: number;
    readonly nodeName: string;
  };
}

export interface ChardevInfo {
  readonly label: string;
  readonly filename: string;
  readonly frontendOpen: boolean;
}

/** Why the machine stops for good, as QEMU's SHUTDOWN event says it. */
export type ShutdownReason = 'guest-shutdown' | 'guest-reset' | 'host-qmp-quit' | 'host-qmp-system-reset' | 'host-signal' | 'host-error';

export interface MachineControl {
  readonly name: string | undefined;
  /** The machine's one run state (prelaunch, running, paused, shutdown): stop/cont/status go through it. */
  readonly runState: RunState;
  /** `system_reset`: `reset`, or under -no-reboot `shutdown` (the machine shuts down instead, as QEMU). */
  reset(): 'reset' | 'shutdown';
  /** Press the power button (ACPI), as far as the machine has one. */
  powerdown(): void;
  /** End the emulator (exit 0), as `quit`. */
  quit(): void;
  /** Write the screen to `filename` as PPM or PNG. */
  screendump(filename: string, format: 'ppm' | 'png'): Promise<void>;
  blockDevices(): Promise<BlockDeviceInfo[]>;
  eject(device: string, force: boolean): Promise<void>;
  changeMedium(device: string, filename: string, format: string | undefined, readOnlyMode: string | undefined): Promise<void>;
  /** Guest-side resets (the guest rebooting), so the monitors can send RESET events. */
  onGuestReset(listener: () => void): void;
  /** The CD-ROM tray opened or closed (eject, change), for DEVICE_TRAY_MOVED. */
  onTrayMoved(listener: (device: string, qdev: string, open: boolean) => void): void;
}
