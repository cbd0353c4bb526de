/** What the command line asks of the machine, after parsing and checking. */
import type { MonitorConfig } from '../monitor/config.ts';

export interface DriveConfig {
  readonly file: string;
  readonly format?: string;
  readonly media: 'disk' | 'cdrom';
  /** IDE position: 0 = primary master (hda), 1 = primary slave (hdb); the CD sits on the secondary channel. */
  readonly index: number;
  readonly readOnly: boolean;
  /** Guest writes go to a temporary overlay, discarded at exit. */
  readonly snapshot: boolean;
  /** Driver options (`file.*` keys of -drive), passed to the protocol. */
  readonly fileOptions: Readonly<Record<string, string>>;
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
  readonly serial: 'stdio' | 'none';
  readonly display: DisplayConfig;
  readonly netdevs: readonly NetdevConfig[];
  /** The NICs (ne2k_pci), each tied to a netdev id. */
  readonly nics: readonly NicConfig[];
  /** QMP and human monitors (-qmp, -monitor, -chardev + -mon, -serial mon:stdio). */
  readonly monitors: readonly MonitorConfig[];
}

export type Command =
  | { readonly kind: 'run'; readonly machine: MachineConfig }
  | { readonly kind: 'list-modules'; readonly output: 'human' | 'json' }
  | { readonly kind: 'version' }
  | { readonly kind: 'help' };
