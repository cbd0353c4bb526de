/**
 * The parts of v86 0.5.462 that its typed API does not cover but the machine needs. The names
 * survive in the published (minified) build; tests cover each use, so a v86 upgrade that renames
 * one fails loudly instead of silently.
 */

export interface IdeInterface {
  is_atapi: boolean;
  current_command: number;
  status_reg: number;
  error_reg: number;
  /** The disk object given as hda/hdb (tessera's V86Disk). */
  buffer: unknown;
  channel: { dma_status: number };
  ata_command(command: number): void;
  ata_abort_command(): void;
  /** Runs a DMA write: reads the guest's PRD table and hands the data to `buffer.set`. */
  do_ata_write_sectors_dma(): void;
  push_irq(): void;
}

export interface IdeChannel {
  master: IdeInterface;
  slave: IdeInterface;
}

export interface Ne2k {
  mac: Uint8Array;
  /** The NIC's buffer RAM; its first 12 bytes are the station-address PROM, each byte doubled. */
  memory: Uint8Array;
}

export interface VgaDevice {
  screen_fill_buffer(): void;
}

export interface V86Cpu {
  /** Views into the wasm memory: the CPU's HLT state and EFLAGS. */
  in_hlt: Uint8Array;
  flags: Int32Array;
  /** Linear address of the next instruction (CS base + EIP); the last instruction started. */
  instruction_pointer: Int32Array;
  previous_ip: Int32Array;
  /** Segment bases (ES, CS, SS, DS, FS, GS), selectors, CR0-CR7, and whether CS is 32-bit. */
  segment_offsets: Int32Array;
  sreg: Uint16Array;
  cr: Int32Array;
  protected_mode: Int32Array;
  is_32: Int32Array;
  devices: {
    ide?: { primary?: IdeChannel; secondary?: IdeChannel };
    net?: Ne2k;
    vga?: VgaDevice;
  };
}

export interface ScreenAdapter {
  update_buffer(layers: readonly VgaLayer[]): void;
  get_text_screen?(): string[];
}

/** One rectangle v86's VGA hands to the screen adapter. */
export interface VgaLayer {
  image_data: { data: Uint8ClampedArray; width: number; height: number };
  screen_x: number;
  screen_y: number;
  buffer_x: number;
  buffer_y: number;
  buffer_width: number;
  buffer_height: number;
}

export interface V86Bus {
  send(event: string, data?: unknown): void;
  register(event: string, listener: (data: unknown) => void, context: unknown): void;
}

/** A running `V86` instance, typed as far as tessera uses it. */
export interface V86Emulator {
  v86: { cpu: V86Cpu };
  bus: V86Bus;
  screen_adapter: ScreenAdapter;
  add_listener(event: string, listener: (data: never) => void): void;
  run(): Promise<void>;
  stop(): Promise<void>;
  destroy(): Promise<void>;
  serial0_send(text: string): void;
  keyboard_send_scancodes(codes: number[]): void;
}

export type V86Constructor = new (options: Record<string, unknown>) => V86Emulator;
