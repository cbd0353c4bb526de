/** What the command line asks of the machine, after parsing and checking. */
import type { MonitorConfig } from '../monitor/config.ts';

export interface DriveConfig {
  readonly file: string;
  readonly format?: string;
  readonly media: 'disk' | 'cdrom';
  /** The controller: IDE (absent) or the floppy controller (`-fda`, `-drive if=floppy`; index 0 = A:, 1 = B:). */
  readonly interface?: 'floppy';
  /** IDE position: 0 = primary master (hda), 1 = primary slave (hdb); the CD sits on the secondary channel. */
  readonly index: number;
  readonly readOnly: boolean;
  /** Guest writes go to a temporary overlay, discarded at exit. */
  readonly snapshot: boolean;
  /** Driver options (`file.*` keys of -drive), passed to the protocol. */
  readonly fileOptions: Readonly<Record<string, string>>;
  /** Format options of -drive (the secret an encrypted image names: `encrypt.key-secret`, `key-secret`). */
  readonly formatOptions?: Readonly<Record<string, string>>;
  /** The option that made it (`-drive file=…`), for error messages. */
  readonly origin: string;
}

export interface NetdevConfig {
  readonly id: string;
  readonly type: string;
  readonly options: Readonly<Record<string, string>>;
  readonly origin: string;
}

export interface NicConfig {
  readonly model: string;
  /** The id of the -netdev it is plugged into. */
  readonly netdev: string;
  /** `mac=`; by default QEMU's 52:54:00:12:34:56 (+ the NIC's index). */
  readonly mac?: Uint8Array;
  readonly origin: string;
}

export interface DisplayConfig {
  readonly type: string; // 'none' or a display module's name ('web')
  readonly options: Readonly<Record<string, string>>;
  readonly origin: string;
}

export interface MachineConfig {
  readonly memoryBytes: number;
  readonly kernel?: string;
  readonly initrd?: string;
  readonly append?: string;
  readonly bios?: string;
  readonly drives: readonly DriveConfig[];
  /** Boot devices in order: `c` hard disk, `d` CD-ROM, `a` floppy. */
  readonly bootOrder: string;
  readonly serial: SerialConfig;
  readonly display: DisplayConfig;
  readonly netdevs: readonly NetdevConfig[];
  /** The NICs (ne2k_pci), each tied to a netdev id. */
  readonly nics: readonly NicConfig[];
  /** QMP and human monitors (-qmp, -monitor, -chardev + -mon, -serial mon:stdio). */
  readonly monitors: readonly MonitorConfig[];
  /** `-nodefaults`: no default devices (here: COM1 is not put on stdio unless -serial says so). */
  readonly nodefaults: boolean;
  /** ACPI (`-machine acpi=on`; off by default, unlike QEMU's pc: see the README): v86's ACPI PM device with its I/O APIC and local APIC. */
  readonly acpi: boolean;
  /** Notes for stderr before the machine starts (e.g. `-cpu pentium` runs v86's CPU). */
  readonly warnings: readonly string[];
  /** `-object secret,…`: passphrases of encrypted disks, defined in the block layer before the drives open. */
  readonly secrets?: readonly { readonly id: string; readonly value: Uint8Array }[];
  /** Process and lifecycle options (-name, -pidfile, -daemonize, -S, -no-reboot, -no-shutdown). */
  readonly process: ProcessConfig;
}

/** COM1's character backend (`-serial`). */
export type SerialConfig =
  | { readonly kind: 'none' | 'pty' }
  /** `monitor`: `-serial mon:stdio`, the human monitor shares the terminal (Ctrl-a c switches). */
  | { readonly kind: 'stdio'; readonly monitor?: boolean }
  | { readonly kind: 'file'; readonly path: string }
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number; readonly server: boolean; readonly wait: boolean; readonly origin: string }
  | { readonly kind: 'unix'; readonly path: string; readonly server: boolean; readonly wait: boolean; readonly origin: string };

export interface ProcessConfig {
  /** `-name NAME`: the guest's name (QMP query-name); `process=` names the process (its title). */
  readonly name?: string;
  readonly processName?: string;
  readonly pidfile?: string;
  readonly daemonize: boolean;
  /** `-S`: the CPU does not run until resumed (QMP `cont`). */
  readonly startPaused: boolean;
  /** `-no-reboot`: a guest reset ends the process (exit 0) instead of resetting the machine. */
  readonly noReboot: boolean;
  /** `-no-shutdown`: a guest power-off stops the machine; the process stays. */
  readonly noShutdown: boolean;
}

export type Command =
  | { readonly kind: 'run'; readonly machine: MachineConfig }
  | { readonly kind: 'list-modules'; readonly output: 'human' | 'json' }
  | { readonly kind: 'version' }
  /** Text for stdout, exit 0 (`-machine help`, `-cpu help`). */
  | { readonly kind: 'print'; readonly text: string }
  | { readonly kind: 'help' };
